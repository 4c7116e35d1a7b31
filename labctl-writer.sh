ep=http://127.0.0.1:23791,http://127.0.0.1:23791,http://127.0.0.1:23791
i=0
while :; do
  i=$((i+1))
  ETCDCTL_ENDPOINTS=$ep etcdctl --dial-timeout=2s --command-timeout=3s put chaos-$i v$i >/dev/null 2>&1 && echo $i >> ./labctl-acked
done
