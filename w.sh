ep=http://127.0.0.1:23791
i=0
while :; do
  i=$((i+1))
  etcdctl --endpoints=$ep --dial-timeout=2s --command-timeout=3s put chaos-$i v$i >/dev/null 2>&1 && echo $i >> acked
done
