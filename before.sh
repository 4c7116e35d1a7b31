if true; then
  rm -f ./labctl-acked ./labctl-mark-*
  touch ./labctl-acked
  cat > ./labctl-writer.sh <<'WRITER'
ep=http://127.0.0.1:23791,http://127.0.0.1:23791,http://127.0.0.1:23791
i=0
while :; do
  i=$((i+1))
  ETCDCTL_ENDPOINTS=$ep etcdctl --dial-timeout=2s --command-timeout=3s put chaos-$i v$i >/dev/null 2>&1 && echo $i >> ./labctl-acked
done
WRITER
  cat > ./labctl-progress <<'PROGRESS'
#!/bin/sh
mark=./labctl-mark-$1
n=$(wc -l < ./labctl-acked)
[ -f $mark ] || echo $n > $mark
echo "acknowledged $(cat $mark) when first seen, $n now"
[ "$n" -gt "$(cat $mark)" ] && echo PROGRESS
PROGRESS
  chmod +x ./labctl-progress
  sh ./labctl-writer.sh & WP=$!; sleep 2; ./labctl-progress x; sleep 3; kill $WP
fi
echo "writer $(systemctl is-active labctl-writer), $(cat ./labctl-acked 2>/dev/null | wc -l) acknowledged"

