systemctl stop labctl-writer 2>/dev/null
sed 's/^/v/' ./labctl-acked | sort -u > ./labctl-want
ETCDCTL_ENDPOINTS=http://127.0.0.1:23791 etcdctl --command-timeout=30s get --consistency=l --prefix --print-value-only chaos- > ./labctl-got || { echo UNREADABLE; exit 1; }
grep . ./labctl-got | sort -u > ./labctl-read
echo "acknowledged $(wc -l < ./labctl-want) read $(wc -l < ./labctl-read) missing $(comm -23 ./labctl-want ./labctl-read | wc -l)"

