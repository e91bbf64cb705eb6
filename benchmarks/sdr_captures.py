"""`amc classify` on the shared real RTL-SDR captures (../shared/recordings): detection, centre error, class, speed.

For every capture in the manifest, one `amc classify FILE --sample-rate RATE --center-freq F --model M --scan`
process (its start-up included in the time), then against the manifest's rough burst (start, stop, offset):

* detected: a transmission overlaps the burst in time and its centre lies within ``--tol-khz`` of the
  burst's offset (or the offset lies between its edges); centre error = |centre - offset| of the best one;
* class: that transmission's label; OOK captures count as right for OOK / 2ASK / 4ASK, FSK captures for
  2FSK / GFSK / GMSK;
* noise windows given a class: the capture's 4.096 ms x 125 kHz tiles (one model window) that lie outside
  the burst (time +- 5 ms, frequency +- 62.5 kHz of its offset) and that a transmission with a class
  (not `unknown`) covers, over all such tiles;
* time per file: the first ``--processes`` captures as whole `amc classify` processes (start-up included; wall
  and the child's CPU seconds), the rest called in this process (start-up excluded); real-time factor =
  capture duration / wall time (the load average is recorded: a shared machine stretches wall time).

    python benchmarks/sdr_captures.py [--model sdr] [--recordings ../shared/recordings]
                                      [--out results/sdr_captures.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

OOK = {"OOK", "2ASK", "4ASK"}
FSK = {"2FSK", "GFSK", "GMSK"}
TILE_S, TILE_HZ = 512 / 125e3, 125e3


def run_one(path: Path, row: dict, model: str, extra: list[str]) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "amc", "classify", str(path), "--sample-rate", row["sample_rate_hz"],
           "--center-freq", row["center_freq_hz"], "--model", model, "--scan", "--json", "-", "--no-annotate",
           "--no-progress", *extra]
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    dt, c1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    if res.returncode != 0:
        raise SystemExit(f"{path}: exit {res.returncode}: {res.stderr.strip()[-400:]}")
    out = json.loads(res.stdout)
    out["cpu_s"] = cpu
    return out, dt


def run_in_process(path: Path, row: dict, model: str) -> tuple[dict, float]:
    from amc.classify import ClassifySettings, classify
    from amc.pretrained import resolve_model

    t0 = time.perf_counter()
    r = classify(ClassifySettings(input=str(path), model=str(resolve_model(model)), sample_rate=float(
        row["sample_rate_hz"]), center_freq=float(row["center_freq_hz"]), scan=True, annotate=False, progress=False))
    dt = time.perf_counter() - t0
    r["cpu_s"] = None
    return r, dt


def score(r: dict, row: dict, tol_hz: float) -> dict:
    bs, be = float(row["burst_start_s"]), float(row["burst_end_s"])
    bo = float(row["burst_offset_hz"])
    txs = r["transmissions"]
    near = [t for t in txs if t["start_s"] < be and t["stop_s"] > bs
            and (abs(t["center_offset_hz"] - bo) <= tol_hz
                 or t["freq_lower_edge"] - (r["center_freq"] or 0) <= bo <= t["freq_upper_edge"] - (r["center_freq"]
                                                                                                      or 0))]
    best = min(near, key=lambda t: abs(t["center_offset_hz"] - bo)) if near else None
    want = OOK if row["label"] == "OOK" else FSK
    dur = r["duration_s"]
    fs = r["sample_rate"]
    nt, nf = int(dur / TILE_S), max(1, int(fs / TILE_HZ))
    noise_tiles = given = 0
    for i in range(nt):
        t0, t1 = i * TILE_S, (i + 1) * TILE_S
        for j in range(nf):
            f0 = -fs / 2 + j * TILE_HZ
            f1 = f0 + TILE_HZ
            in_burst = t1 > bs - 5e-3 and t0 < be + 5e-3 and f1 > bo - 62.5e3 and f0 < bo + 62.5e3
            if in_burst:
                continue
            noise_tiles += 1
            rf = r["center_freq"] or 0.0
            if any(t["label"] != "unknown" and t["start_s"] < t1 and t["stop_s"] > t0
                   and t["freq_lower_edge"] - rf < f1 and t["freq_upper_edge"] - rf > f0 for t in txs):
                given += 1
    return {"detected": best is not None, "centre_error_hz": None if best is None else
            round(abs(best["center_offset_hz"] - bo), 1), "label": None if best is None else best["label"],
            "prob": None if best is None else best["prob"], "right": best is not None and best["label"] in want,
            "transmissions": len(txs), "noise_tiles": noise_tiles, "noise_tiles_given_a_class": given}


def med(v: list) -> float | None:
    return sorted(v)[len(v) // 2] if v else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sdr")
    ap.add_argument("--recordings", default="../shared/recordings")
    ap.add_argument("--out", default="results/sdr_captures.json")
    ap.add_argument("--tol-khz", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=0, help="first N captures only (0: all)")
    ap.add_argument("--processes", type=int, default=3, help="captures run as whole processes (the rest in this "
                                                             "process, start-up excluded; -1: all)")
    a, extra = ap.parse_known_args()
    root = Path(a.recordings)
    rows = list(csv.DictReader(open(root / "manifest.csv")))[: a.limit or None]
    per = []
    for k, row in enumerate(rows):
        if a.processes < 0 or k < a.processes:  # a whole `amc classify` process: start-up included
            r, dt = run_one(root / row["file"], row, a.model, extra)
        else:  # the same call inside this process (the shared machine's start-up can take a minute)
            r, dt = run_in_process(root / row["file"], row, a.model)
        s = score(r, row, a.tol_khz * 1e3)
        s.update(file=row["file"], device=row["device"], truth=row["label"], seconds=round(dt, 2),
                 process=r["cpu_s"] is not None,
                 realtime_factor=round(float(row["duration_s"]) / dt, 3), scan_s=round(r["speed"]["wall_s"], 3),
                 cpu_s=None if r["cpu_s"] is None else round(r["cpu_s"], 2))
        per.append(s)
        print(f"{row['file'][:44]:44s} {row['label']:3s} det {'y' if s['detected'] else 'n'} "
              f"err {s['centre_error_hz'] or 0:7.0f} Hz  {s['label'] or '-':8s} {s['prob'] or 0:.2f}  "
              f"{s['transmissions']:2d} tx  {dt:5.1f} s", flush=True)
    by = {lab: [p for p in per if p["truth"] == lab] for lab in ("OOK", "FSK")}
    tiles = sum(p["noise_tiles"] for p in per)
    summary = {
        "captures": len(per), "detected": sum(p["detected"] for p in per),
        "median_centre_error_hz": sorted(p["centre_error_hz"] for p in per if p["detected"])[
            len([p for p in per if p["detected"]]) // 2] if any(p["detected"] for p in per) else None,
        **{f"{lab}_right": f"{sum(p['right'] for p in ps)}/{len(ps)}" for lab, ps in by.items()},
        "noise_tiles": tiles, "noise_tiles_given_a_class": sum(p["noise_tiles_given_a_class"] for p in per),
        "noise_share_given_a_class": round(sum(p["noise_tiles_given_a_class"] for p in per) / max(tiles, 1), 4),
        "process_seconds": [p["seconds"] for p in per if p["process"]],
        "process_cpu_s": [p["cpu_s"] for p in per if p["process"]],
        "median_seconds_per_file_in_process": med([p["seconds"] for p in per if not p["process"]]),
        "median_realtime_factor_in_process": med([p["realtime_factor"] for p in per if not p["process"]]),
        "median_scan_s_per_file": med([p["scan_s"] for p in per]),
        "duration_s": round(sum(float(r["duration_s"]) for r in rows), 3),
        "total_seconds": round(sum(p["seconds"] for p in per), 2),
        "load_average_1min": os.getloadavg()[0], "model": a.model,
    }
    print(json.dumps(summary, indent=1))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"summary": summary, "per_capture": per}, indent=1) + "\n")


if __name__ == "__main__":
    main()
