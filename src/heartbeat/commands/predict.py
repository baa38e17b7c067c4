"""``heartbeat`` verbs: raw recordings to labelled beats, and the portable ONNX model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heartbeat.options import add_device_arg, add_runtime_arg


def probability(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: expected a probability in [0, 1]")
    return value


def cmd_predict(args) -> int:
    import json

    from heartbeat.inference.modelio import load_model
    from heartbeat.inference.recording import check_rate, classify, detect_peaks, read_recording, write_prediction

    out_root = Path(args.out)
    recordings = [read_recording(r, fs=args.fs, lead=args.lead, units=args.units, gain=args.gain,
                                 baseline=args.baseline) for r in args.records]  # all checked first ...
    peaks = []
    for rec in recordings:  # ... their sampling rate too (it needs the beats), before anything is written
        print(f"{rec.source}: {rec.seconds / 60:.1f} min of lead {rec.lead} at {rec.fs:g} Hz"
              + "".join(f"\n  note: {n}" for n in rec.notes), file=sys.stderr)
        peaks.append(detect_peaks(rec.signal, rec.fs, progress=True))
        check_rate(rec, peaks[-1])
    model = load_model(args.model, runtime=args.runtime, device=args.device)
    for rec, found in zip(recordings, peaks):
        table, summary = classify(model, rec, found, progress=True, threshold=args.threshold)
        summary["model"] = model.tag
        summary["abnormal_rule"] = ("class not N" if args.threshold is None
                                    else f"P(not N) >= {args.threshold:g}")
        out = write_prediction(out_root / rec.name, rec, table, summary, plot=not args.no_plot)
        print(f"{rec.name}: {summary['beats']} beats ("
              + ", ".join(f"{c} {n}" for c, n in summary["per_class"].items())
              + f"), abnormal burden {summary['abnormal_burden_percent']:.1f}%; longest abnormal run "
              + (f"{summary['longest_abnormal_runs'][0]['beats']} beats" if summary["longest_abnormal_runs"] else "none")
              + f" -> {out}/")
        if args.json:
            print(json.dumps(summary))
    return 0


def cmd_export(args) -> int:
    import numpy as np

    from heartbeat.inference.modelio import load_model
    from heartbeat.inference.runtime import OPSET, export_onnx

    model = load_model(args.model)
    path = export_onnx(model)
    check = load_model(args.model, runtime="onnx")
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (256, 187)).astype(np.float32)
    R = rng.uniform(0.5, 1.5, (256, model.inputs.num_rhythm)).astype(np.float32) if model.inputs.rhythm else None
    diff = float(np.abs(check.predict_proba(X, rhythm=R) - model.predict_proba(X, rhythm=R)).max())
    print(f"wrote {path} (opset {OPSET}, dynamic batch, inputs: beats"
          + (", rhythm" if model.inputs.rhythm else "") + f"); max |p_onnx - p_torch| on 256 beats: {diff:.2e}")
    return 0


def add_parsers(sub) -> None:
    """Register this module's verbs on the CLI's subparsers."""
    pd_ = sub.add_parser("predict", help="raw ECG recordings -> labelled beats: per-beat CSV, summary, ECG strip",
                         description="Classify every beat of raw recordings: read one lead, check it, find its R "
                                     "peaks (XQRS), cut beats and rhythm the way the model was trained, and "
                                     "write OUT/<record>/beats.csv (time_s, sample, class, p_<class>, abnormal), "
                                     "summary.json (beats per class, abnormal burden, longest abnormal runs) and "
                                     "strip.png (the ECG in mV, each beat marked in its class's colour, spans "
                                     "with no detected beat shaded). <record> is a WFDB record's name or a CSV / "
                                     "NPY file's stem. A sampling rate at which the beats would be impossible "
                                     "(heart rate outside 20..300 bpm, R waves outside 18..200 ms) is refused, "
                                     "naming the rate the beats fit.",
                         epilog="examples:\n"
                                "  heartbeat predict --model models/cnn1d-rhythm-all ../shared/data/mitdb/208\n"
                                "  heartbeat predict --model M holter.csv --fs 250 --lead II --out predictions\n"
                                "  heartbeat predict --model M strip.npy --fs 360 --runtime onnx",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    pd_.add_argument("--model", required=True, help="model folder (models/<tag>)")
    pd_.add_argument("records", nargs="+", metavar="RECORD",
                     help="a WFDB record (path without extension, or its .hea), or a .csv / .npy file of samples")
    pd_.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (required for .csv and .npy)")
    pd_.add_argument("--lead", default=None, help="lead name (default: MLII, else the first lead, with a note); "
                                                  "for CSV a header name, else lead0, lead1, ...")
    pd_.add_argument("--units", default=None, choices=["mV", "uV", "V", "adc"],
                     help="what a .csv or .npy file's numbers are (default: mV); adc: raw counts, converted with "
                          "--gain and --baseline. A WFDB record's header says it itself")
    pd_.add_argument("--gain", type=float, default=None, metavar="COUNTS_PER_MV",
                     help="with --units adc: ADC counts per mV (a WFDB header's gain; 200 for MIT-BIH)")
    pd_.add_argument("--baseline", type=float, default=0.0, metavar="COUNTS",
                     help="with --units adc: the count that is 0 mV (default: 0; 1024 for MIT-BIH)")
    pd_.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    pd_.add_argument("--threshold", type=probability, default=None, metavar="P",
                     help="flag a beat abnormal when P(not N) >= P, even where its most likely class is N; a "
                          "lower P misses fewer sick beats at more false alarms (default: none, a beat is abnormal "
                          "when its class is not N; heartbeat serve --threshold is the same rule)")
    pd_.add_argument("--no-plot", action="store_true", help="skip strip.png")
    pd_.add_argument("--json", action="store_true", help="also print each record's summary as JSON")
    add_runtime_arg(pd_)
    add_device_arg(pd_)
    pd_.set_defaults(func=cmd_predict)

    ex = sub.add_parser("export", help="write MODEL/model.onnx (pinned opset, dynamic batch) and check it",
                        description="Export a deep model to ONNX: inputs 'beats' (batch, 1, 187) and, for a model "
                                    "trained with rhythm, 'rhythm' (batch, 8); output 'probabilities'. The export "
                                    "is checked against torch on 256 beats. Use it with --runtime onnx.")
    ex.add_argument("--model", required=True, help="model folder (models/<tag>)")
    ex.set_defaults(func=cmd_export)
