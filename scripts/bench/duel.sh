#!/bin/bash
# Row 3 (or with ROW=1, row 1: a sync `sh` script hook, wrk -c16, a 1 KiB body) of two or more
# builds side by side, for a change whose cost is within the machine's drift: every daemon runs
# at once, wrk loads each in turn (the order rotating per round), and the daemon's CPU time per
# request is read from /proc. The per-round ratio of the second build to the first cancels most
# drift; its median is the figure (a whole run's mean varies 10-20 % on a busy 2-core machine).
#
# usage: [ROW=1|3] [R=rounds] [S=seconds] scripts/bench/duel.sh BUILD_A BUILD_B [BUILD...]
# BUILD: a checkout (its main.ts runs) or a bundle (`deno task bundle` -> dist/hookhost.js).
R=${R:-4}; S=${S:-5}; ROW=${ROW:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
POST=$WORK/post.lua
BODY='{}'; C=64; URLPATH=/hooks/fast; WAIT='"hook":"server"'
if [ "$ROW" = 1 ]; then
  BODY="{\"pad\":\"$(head -c 1014 /dev/zero | tr '\0' x)\"}"; C=16; URLPATH=/; WAIT='"hook":"sync"'
  printf '#!/bin/sh\nread -r line\necho "got ${#line} bytes"\n' >"$WORK/sync.sh"
  chmod +x "$WORK/sync.sh"
fi
printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' \
  "$BODY" >"$POST"
declare -a URL PID
i=0
for T in "$@"; do
  T=$(realpath "$T")
  d=$WORK/run$i; mkdir -p $d
  HOOKS=""
  if [ "$ROW" = 1 ]; then
    printf '[[hooks]]\nname = "sync"\nbind = "127.0.0.1:0"\nscript = "%s"\n' "$WORK/sync.sh" >$d/hookhost.toml
    HOOKS="--hook sync"
  else
    mkdir -p $d/plugins
    echo 'export default { webhook() { return "fast"; } };' >$d/plugins/fast.ts
    printf '[server]\nbind = "127.0.0.1:0"\n' >$d/hookhost.toml
  fi
  ENTRY=$([ -f "$T" ] && echo "$T" || echo "$T/main.ts")
  (cd $d && HOOKHOST_STATE=$d/state HOOKHOST_CONFIG=$d/hookhost.toml exec deno run -A \
    --unstable-kv --unstable-worker-options --unstable-net --no-prompt \
    --v8-flags=--max-semi-space-size=4 "$ENTRY" run --name d$i --daemon --format jsonl $HOOKS \
    >$d/out.jsonl 2>$d/err.log) &
  PID[$i]=$!
  for k in $(seq 300); do grep -q "$WAIT" $d/out.jsonl 2>/dev/null && break; sleep 0.1; done
  URL[$i]=http://$(grep "$WAIT" $d/out.jsonl | grep -o '"addr":"[^"]*"' | head -1 | cut -d'"' -f4)
  i=$((i+1))
done
N=$i
for u in ${URL[@]}; do wrk -t2 -c$C -d2 -s $POST $u$URLPATH >/dev/null; done
for r in $(seq $R); do
  for j in $(seq 0 $((N-1))); do
    k=$(( (j + r) % N ))
    c0=$(awk '{print $14+$15}' /proc/${PID[$k]}/stat)
    out=$(wrk -t2 -c$C -d${S} -s $POST ${URL[$k]}$URLPATH)
    c1=$(awk '{print $14+$15}' /proc/${PID[$k]}/stat)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    # CPU in ns per request (ticks of 10 ms); the daemon's own, not its scripts'.
    echo "build$k $rps $(( (c1-c0)*10000000/n ))"
  done
done >$WORK/last.txt
kill ${PID[@]}; wait
awk '{s[$1]+=$2; c[$1]+=$3; n[$1]++; v[$1]=v[$1] " " $3}
  END {for (t in s) printf "%s mean %.0f req/s, daemon cpu %.1f us/req (ns per round:%s)\n",
    t, s[t]/n[t], c[t]/n[t]/1000, v[t]}' $WORK/last.txt | sort
awk -v N=$N -v R=$R '{r=int((NR-1)/N); v[r,$1]=$2}
  END {for (i=0;i<R;i++) if (v[i,"build0"]>0) print v[i,"build1"]/v[i,"build0"]}' $WORK/last.txt |
  sort -n | awk '{a[NR]=$1} END {printf "build1/build0 per round: median %.3f (min %.3f, max %.3f)\n",
    a[int((NR+1)/2)], a[1], a[NR]}'
