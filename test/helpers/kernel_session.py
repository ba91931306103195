"""Drives one tslab kernel (the project's bnlab-tslab kernelspec) through a
list of steps, as a user at JupyterLab would, and prints the outputs as JSON.

Steps (a JSON list in the file given as argv[1]):
  {"code": "..."}            execute a cell; its outputs are collected
  {"touch": "/path/file"}    set a file's mtime to now (an edit + rebuild)
The kernel starts in argv[2] (the folder a notebook would live in).
"""
import json
import os
import sys
import time

from jupyter_client.manager import start_new_kernel

steps = json.load(open(sys.argv[1]))
cwd = sys.argv[2]
km, kc = start_new_kernel(kernel_name="bnlab-tslab", cwd=cwd)
results = []
try:
    for step in steps:
        if "touch" in step:
            now = time.time() + 1
            os.utime(step["touch"], (now, now))
            results.append({"touched": step["touch"]})
            continue
        outputs = []

        def hook(msg):
            kind = msg["msg_type"]
            content = msg["content"]
            if kind == "stream":
                outputs.append({"stream": content["name"], "text": content["text"]})
            elif kind in ("display_data", "execute_result", "update_display_data"):
                outputs.append({"type": kind, "data": content["data"]})
            elif kind == "error":
                outputs.append({"error": content["ename"] + ": " + content["evalue"]})

        reply = kc.execute_interactive(step["code"], timeout=300, output_hook=hook)
        results.append({"status": reply["content"]["status"], "outputs": outputs})
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print(json.dumps(results))
