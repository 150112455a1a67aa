"""Added latency of a new gated call with N open long polls (issue 12 point 6).

Starts `warden serve` (path in argv[1]) on free loopback ports with a fresh
state dir, opens N approvals and N long polls on them (one per approval),
and times gated calls before and with the polls open.
"""
import json, os, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

d = tempfile.mkdtemp()
ctl, egr = free_port(), free_port()
cfg = os.path.join(d, "warden.toml")
open(cfg, "w").write(f'state_dir = "{d}/state"\n[control]\nlisten = "127.0.0.1:{ctl}"\n[egress]\nlisten = "127.0.0.1:{egr}"\n')
log = open(os.path.join(d, "serve.log"), "w")
proc = subprocess.Popen([binary, "serve", "--config", cfg], stderr=log, stdout=subprocess.DEVNULL)
base = f"http://127.0.0.1:{ctl}"
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/healthz", timeout=1); break
    except Exception:
        time.sleep(0.1)
token = open(f"{d}/state/agent.token").read().strip()

def execute(cmd):
    body = json.dumps({"session_id": "s", "agent_id": "main", "tool_name": "exec", "tool_args": {"command": cmd}}).encode()
    req = urllib.request.Request(base + "/api/v1/tools/execute", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    t = time.perf_counter()
    r = json.load(urllib.request.urlopen(req, timeout=30))
    return time.perf_counter() - t, r

def timed(k, tag):
    xs = []
    for i in range(k):
        dt, r = execute(f"rm -rf /srv/{tag}/{i}")
        assert r["decision"] == "gate", r
        xs.append(dt * 1000)
    xs.sort()
    return statistics.median(xs), xs[int(len(xs) * 0.99) - 1]

for i in range(20):
    execute(f"rm -rf /warm/{i}")
before = timed(200, "before")
ids = [execute(f"rm -rf /held/{i}")[1]["approval_id"] for i in range(n)]
opened = threading.Semaphore(0)
def poll(i):
    req = urllib.request.Request(f"{base}/api/v1/approvals/{i}?wait=60", headers={"Authorization": f"Bearer {token}"})
    opened.release()
    try:
        urllib.request.urlopen(req, timeout=90).read()
    except Exception:
        pass
threads = [threading.Thread(target=poll, args=(i,), daemon=True) for i in ids]
for t in threads:
    t.start()
for _ in ids:
    opened.acquire()
time.sleep(2)  # let the requests reach the server and park
with_polls = timed(200, "with")
print(json.dumps({"open_long_polls": n, "gated_call_ms_before": {"p50": round(before[0], 3), "p99": round(before[1], 3)},
                  "gated_call_ms_with_polls": {"p50": round(with_polls[0], 3), "p99": round(with_polls[1], 3)}}))
proc.terminate(); proc.wait(timeout=30)
