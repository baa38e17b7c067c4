"""``heartbeat <verb>``: the command-line layer, the only code that reads files it was not given."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from heartbeat.options import EPILOG_DATA, WINDOWS, add_data_args, add_device_arg, add_runtime_arg, add_tune_args
from heartbeat.options import TUNE_DESCRIPTION, TUNE_EPILOG




def cmd_tune(args) -> int:
    from heartbeat.tune import cli as tune_cli

    return tune_cli(args)


def warn_if_synthetic(dataset) -> None:
    from heartbeat.data import SYNTHETIC_WARNING

    if dataset.synthetic:
        print("\n" + SYNTHETIC_WARNING + "\n", file=sys.stderr)


# ---------------------------------------------------------------- data
def cmd_data_build(args) -> int:
    from heartbeat.data import write_beats
    from heartbeat.data.sources import describe

    from heartbeat.data.splits import protocol_beats, split
    from heartbeat.data.wfdb_beats import build_beats

    def progress(i, n, name):
        print(f"\r  record {name} ({i}/{n})", end="", file=sys.stderr, flush=True)

    beats, report = build_beats(args.mitdb, progress=progress, window=args.window)
    print(file=sys.stderr)
    out = Path(args.out)
    print(f"built {len(beats)} beats from {len(report.records)} records in {report.seconds:.1f} s")
    print(f"{'class':<6}{'annotated':>10}{'built':>10}")
    for c in report.built:
        print(f"{c:<6}{report.annotated[c]:>10}{report.built[c]:>10}")
    dropped = sum(report.annotated.values()) - sum(report.built.values())
    print(f"dropped {dropped} beats cut off by the end of their record; "
          f"{report.non_beat_annotations} non-beat annotations (rhythm, noise, ...) skipped")
    for note in report.lead_notes:
        print("note:", note)
    if args.split == "none":
        print("wrote", write_beats(beats, out / "beats.parq"))
    else:
        if args.split == "ds1ds2":
            beats, note = protocol_beats(beats)
            print(note)
        train, test = split(beats, args.split, seed=args.seed)
        print("wrote", write_beats(train, out / "heart_big_train.parq"), f"({describe(train)})")
        print("wrote", write_beats(test, out / "heart_big_test.parq"), f"({describe(test)})")
    return 0


def cmd_data_check(args) -> int:
    from heartbeat.data import read_beats
    from heartbeat.data.sources import describe

    beats = read_beats(args.file, task=args.task)
    print(f"{args.file}: OK, task {beats.task}, shape {beats.X.shape}")
    print("classes:", describe(beats))
    if beats.record is not None:
        print(f"records: {len(set(beats.record))}")
    for line in beats.report.lines():
        print("  " + line)
    return 0


def cmd_data_show(args) -> int:
    from heartbeat.data.sources import describe
    from heartbeat.data.sources import load_dataset

    ds = load_dataset(args.data, task=args.task, split_how=args.split, seed=args.seed, holdout=args.holdout)
    warn_if_synthetic(ds)
    print("source:", ds.source)
    print(f"train: {len(ds.train)} beats: {describe(ds.train)}")
    print(f"test:  {len(ds.test)} beats: {describe(ds.test)}")
    if ds.holdout is not None:
        print(f"holdout (records {','.join(ds.holdout_records)}, in neither train nor test): "
              f"{len(ds.holdout)} beats: {describe(ds.holdout)}")
    return 0


def cmd_data_download(args) -> int:
    host = "physionet.org"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as exc:
        print(f"cannot reach {host} ({exc}). Other ways to get data:\n"
              "  - copy the MIT-BIH WFDB records (NNN.hea/.dat/.atr) into data/mitdb/ or any folder,\n"
              "    then pass --data FOLDER or set HEARTBEAT_DATA=FOLDER;\n"
              "  - put the course files heart_big_train.parq + heart_big_test.parq in data/;\n"
              "  - put Kaggle's mitbih_train.csv + mitbih_test.csv (or ptbdb_*.csv) in data/;\n"
              "  - run without data: the built-in synthetic beats are used (not ECG).", file=sys.stderr)
        return 2
    import wfdb

    Path(args.out).mkdir(parents=True, exist_ok=True)
    wfdb.dl_database("mitdb", dl_dir=args.out)
    print("downloaded MIT-BIH Arrhythmia Database into", args.out)
    return 0


# ---------------------------------------------------------------- train
def set_threads(n: int | None) -> None:
    import torch

    torch.set_num_threads(n or torch.get_num_threads())


def epoch_line(row: dict) -> str:
    return (f"epoch {row['epoch']:>3}  loss {row['loss']:.4f}  {row['objective_name']} {row['objective']:.4f}  "
            f"recall_macro {row['recall_macro']:.4f}  lr {row['lr']:.2e}  {row['seconds']:.1f}s")


def cmd_train(args) -> int:
    from heartbeat.api import config_values, train
    from heartbeat.data import valid_split
    from heartbeat.data.sources import describe, load_dataset

    set_threads(args.threads)
    inputs, objective = config_values(args.gin, args.bind)
    ds = load_dataset(args.data, task=args.task, split_how=args.split, seed=args.seed, holdout=args.holdout,
                      window=inputs.window)
    warn_if_synthetic(ds)
    train_side, valid = valid_split(ds, args.valid_size, args.seed)
    print(f"data: {ds.source}\ntrain {len(train_side)} beats ({describe(train_side)})\nvalid {len(valid)} beats")

    def show(row, _model):
        print(epoch_line({**row, "objective_name": objective}), flush=True)

    out = Path(args.out or Path("models") / Path(args.gin).stem)
    model = train(args.gin, args.bind, data=ds, out=out, epochs=args.epochs, valid_size=args.valid_size,
                  seed=args.seed, device=args.device, on_epoch=show)
    m, best = model.info["valid"], model.info["best_epoch"]
    print(f"best epoch {best}: {objective} {m[objective]:.4f}, recall_macro {m['recall_macro']:.4f}, "
          f"f1_macro {m['f1_macro']:.4f}; per-class recall "
          + " ".join(f"{c} {m['recall_' + c]:.3f}" for c in model.classes))
    print("wrote", out)
    return 0


# ---------------------------------------------------------------- evaluate
def read_any(path: str | Path, task: str | None = None, window: str = "kachuee"):
    """Every beat of a beat file, or of a folder of WFDB records (built on the fly by ``window``, cached)."""
    from heartbeat.data import DataError
    from heartbeat.data import read_beats

    from heartbeat.data.sources import cached_wfdb_beats

    path = Path(path)
    if path.is_dir():
        if not any(path.glob("*.hea")):
            raise DataError(f"{path}: a folder here must hold WFDB records (*.hea); for beat files give the file")
        return cached_wfdb_beats(path, window=window)
    return read_beats(path, task=task)


def cmd_evaluate(args) -> int:
    from heartbeat.data.sources import describe

    import json

    from heartbeat.evaluate import evaluate, json_ready
    from heartbeat.modelio import load_model

    model = load_model(args.model, runtime=args.runtime, device=args.device)
    beats = read_any(args.data, task=model.task, window=model.inputs.window)
    result = evaluate(model, beats)
    if args.json:
        print(json.dumps(json_ready(result)))
        return 0
    print(f"model {model.tag} ({model.family}) on {args.data}: {len(beats)} beats ({describe(beats)})")
    for key in ("accuracy", "recall_macro", "precision_macro", "f1_macro", "f2_macro", "abnormal_sensitivity"):
        print(f"  {key:<22}{result[key]:.4f}")
    for c, r in result["recall_per_class"].items():
        print(f"  recall {c:<15}" + ("absent from the data" if c in result["absent_classes"] else f"{r:.4f}"))
    return 0


def cmd_predict(args) -> int:
    import json

    from heartbeat.modelio import load_model
    from heartbeat.recording import classify, read_recording, write_prediction

    model = load_model(args.model, runtime=args.runtime, device=args.device)
    out_root = Path(args.out)
    recordings = [read_recording(r, fs=args.fs, lead=args.lead) for r in args.records]  # all checked first
    for rec in recordings:
        print(f"{rec.source}: {rec.seconds / 60:.1f} min of lead {rec.lead} at {rec.fs:g} Hz"
              + "".join(f"\n  note: {n}" for n in rec.notes), file=sys.stderr)
        table, summary = classify(model, rec, progress=True)
        summary["model"] = model.tag
        out = write_prediction(out_root / Path(rec.source).name, rec, table, summary, plot=not args.no_plot)
        print(f"{Path(rec.source).name}: {summary['beats']} beats ("
              + ", ".join(f"{c} {n}" for c, n in summary["per_class"].items())
              + f"), abnormal burden {summary['abnormal_burden_percent']:.1f}%; longest abnormal run "
              + (f"{summary['longest_abnormal_runs'][0]['beats']} beats" if summary["longest_abnormal_runs"] else "none")
              + f" -> {out}/")
        if args.json:
            print(json.dumps(summary))
    return 0


def cmd_export(args) -> int:
    import numpy as np

    from heartbeat.modelio import load_model
    from heartbeat.runtime import OPSET, export_onnx

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


def cmd_endtoend(args) -> int:
    import json

    from heartbeat.endtoend import end_to_end
    from heartbeat.modelio import load_model

    model = load_model(args.model, runtime=args.runtime)
    records = args.records.split(",") if args.records else None
    print(f"end-to-end: {model.tag} on {args.data}: detected R peaks against the annotated beats", file=sys.stderr)
    per, summary = end_to_end(model, args.data, records, log=lambda *a, **k: print(*a, file=sys.stderr, **k))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per.to_csv(out / f"{model.tag}_per_record.csv", index=False, float_format="%.5f")
    (out / f"{model.tag}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{summary['records']} records: QRS Se {summary['qrs_Se']:.4f}, +P {summary['qrs_P']:.4f} "
          f"({summary['missed']} missed, {summary['extra']} extra of {summary['annotated']} beats); macro recall "
          f"{summary['recall_macro_annotated']:.4f} at annotated peaks, {summary['recall_macro_detected']:.4f} at "
          f"detected peaks\nwrote {out / (model.tag + '.json')} and {out / (model.tag + '_per_record.csv')}")
    return 0


def cmd_score(args) -> int:
    import pandas as pd

    from heartbeat.evaluate import score_models

    on = args.on
    default = Path("results/output.csv" if on == "valid" else f"results/output_{on}.csv")
    print(f"scoring every model in {args.models} on its {on} split"
          + {"test": " (final evaluation: the test split)",
             "holdout": " (patients held out of train and test)"}.get(on, ""))
    table, warnings, synthetic = score_models(args.models, on=on, data=args.data)
    for w in warnings:
        print("WARNING:", w, file=sys.stderr)
    out = Path(args.out) if args.out else default
    if synthetic and not args.out:
        # the real figures stay where they are: stand-in scores on synthetic beats go beside them
        out = default.with_name(default.stem + "_synthetic.csv")
        print(f"WARNING: no data found, so {default} (real-data figures) is left alone; the synthetic-beat "
              f"scores go to {out}. Give --data PATH or set HEARTBEAT_DATA for real figures.", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6f")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    print("wrote", out)
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="heartbeat", description="ECG heartbeat classification: data, training, "
                                "hyperparameter search, evaluation, reports and serving.",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_DATA)
    from heartbeat import __version__

    p.add_argument("--version", action="version", version=f"heartbeat {__version__}")
    sub = p.add_subparsers(dest="verb", required=True)

    data = sub.add_parser("data", help="build, check, show or download data", epilog=EPILOG_DATA,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = data.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build", help="build course-format parquet beats from raw MIT-BIH WFDB records")
    b.add_argument("--mitdb", required=True, help="folder of WFDB records (NNN.hea, NNN.dat, NNN.atr)")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--split", choices=["intra", "inter", "ds1ds2", "none"], default="intra",
                   help="intra: stratified by beat 80/20 (Kaggle-like); inter: by record, no patient on both "
                        "sides; ds1ds2: de Chazal's DS1 (train) and DS2 (test), paced records and Q beats "
                        "left out; none: one beats.parq (default: intra)")
    b.add_argument("--window", choices=WINDOWS, default="kachuee",
                   help="kachuee: the beat starts at its R peak (the course's format); pwave: 0.28 s before it, "
                        "holding the P wave (default: kachuee). Every beat also gets its rhythm columns "
                        "(pre_rr, post_rr, ... in seconds and ratios), its R peak's sample and time.")
    b.add_argument("--seed", type=int, default=0, help="split seed (default: 0)")
    b.set_defaults(func=cmd_data_build)
    c = dsub.add_parser("check", help="validate a beat file and print its shape, classes and load report")
    c.add_argument("file", help=".parq/.parquet or .csv beat file")
    c.add_argument("--task", choices=["mitbih", "ptb"], default=None, help="default: from the file name or labels")
    c.set_defaults(func=cmd_data_check)
    s = dsub.add_parser("show", help="resolve the data source and print the train/test class counts")
    add_data_args(s)
    s.set_defaults(func=cmd_data_show)
    d = dsub.add_parser("download", help="fetch MIT-BIH from PhysioNet through wfdb (needs internet)")
    d.add_argument("--out", default="data/mitdb", help="output folder (default: data/mitdb)")
    d.set_defaults(func=cmd_data_download)

    t = sub.add_parser("train", help="train one model from a gin file and write a model folder",
                       epilog="example: heartbeat train gin/models/cnn1d.gin --bind 'CNN1D.channels = 64' "
                              "--epochs 5 --out models/try\n" + EPILOG_DATA,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("gin", help="model gin file, e.g. gin/models/cnn1d.gin or gin/best/<tag>.gin")
    t.add_argument("--bind", action="append", default=[], metavar="'NAME = VALUE'",
                   help="extra gin binding, repeatable (e.g. --bind 'fit.learning_rate = 0.001')")
    add_data_args(t)
    t.add_argument("--epochs", type=int, default=None, help="stop after N epochs (default: fit.epochs)")
    t.add_argument("--valid-size", type=float, default=0.2, help="share of train carved out for validation (0.2)")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    t.add_argument("--out", default=None, help="model folder (default: models/<gin file stem>)")
    add_device_arg(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="one model folder on any data: metrics, or --json")
    e.add_argument("--model", required=True, help="model folder (models/<tag>)")
    e.add_argument("--data", required=True, help="beat file (.parq/.csv) or folder of WFDB records")
    e.add_argument("--json", action="store_true", help="print one JSON object (NaN recall of an absent class: null)")
    add_runtime_arg(e)
    add_device_arg(e)
    e.set_defaults(func=cmd_evaluate)

    pd_ = sub.add_parser("predict", help="raw ECG recordings -> labelled beats: per-beat CSV, summary, ECG strip",
                         description="Classify every beat of raw recordings: read one lead, check it, find its R "
                                     "peaks (XQRS), cut beats and rhythm the way the model was trained, and "
                                     "write OUT/<record>/beats.csv (time_s, sample, class, p_<class>, abnormal), "
                                     "summary.json (beats per class, abnormal burden, longest abnormal runs) and "
                                     "strip.png (the ECG with each beat marked in its class's colour).",
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
    pd_.add_argument("--out", default="predictions", help="output folder (default: predictions)")
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

    ee = sub.add_parser("endtoend", help="detected R peaks against annotated beats: QRS Se/+P, and classification "
                                         "at detected vs annotated peaks -> results/endtoend/",
                        description="End-to-end accuracy on annotated WFDB records. A ds1ds2 model is scored on the "
                                    "DS2 records by default (paced records and Q beats left out), any other model "
                                    "on every record.")
    ee.add_argument("--model", required=True, help="model folder (models/<tag>)")
    ee.add_argument("--data", default="../shared/data/mitdb", help="folder of annotated WFDB records")
    ee.add_argument("--records", default=None, help="comma-separated records (default: see above)")
    ee.add_argument("--out", default="results/endtoend", help="output folder (default: results/endtoend)")
    add_runtime_arg(ee)
    ee.set_defaults(func=cmd_endtoend)

    r = sub.add_parser("score", help="every model in models/ on its valid (or test) split -> results/output.csv",
                       epilog=EPILOG_DATA, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--models", default="models", help="folder of model folders (default: models)")
    r.add_argument("--on", choices=["valid", "test", "holdout"], default="valid",
                   help="valid (default), test (the final evaluation only) or holdout (the patients the "
                        "model was trained without, when it was trained with --holdout)")
    r.add_argument("--data", default=None, help="data source (default: $HEARTBEAT_DATA, data/, synthetic)")
    r.add_argument("--out", default=None,
                   help="CSV path (default: results/output.csv, output_test.csv or output_holdout.csv)")
    r.set_defaults(func=cmd_score)

    sh = sub.add_parser("shift", help="every model on its held-out patients and on corrupted test beats "
                                      "-> results/shift/*.csv",
                        description="Data shift: each model folder scored on the patients it was trained without "
                                    "(when fitted with --holdout) beside its intra-patient test figures, and on "
                                    "its test beats under graded noise, baseline wander and amplitude change.",
                        epilog=EPILOG_DATA, formatter_class=argparse.RawDescriptionHelpFormatter)
    sh.add_argument("--models", default="models", help="folder of model folders (default: models)")
    sh.add_argument("--data", default=None, help="data source (default: $HEARTBEAT_DATA, data/)")
    sh.add_argument("--out", default="results/shift", help="output folder (default: results/shift)")
    sh.add_argument("--seed", type=int, default=0, help="seed of the corruption draws (default: 0)")
    sh.set_defaults(func=cmd_shift)


    tu = sub.add_parser("tune", help="hyperparameter search with Ray Tune (the same as python hypertune.py)",
                        description=TUNE_DESCRIPTION, epilog=TUNE_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tune_args(tu)
    tu.set_defaults(func=cmd_tune)

    from heartbeat.serve.cli import add_parsers as add_serve_parsers

    add_serve_parsers(sub)

    pr = sub.add_parser("protocol", help="every ds1ds2 model on DS2: Se and +P of N, S, V, F beside published "
                                         "rows, and per patient -> results/ds1ds2/",
                        description="The DS1 -> DS2 inter-patient protocol of de Chazal et al. (2004): each model "
                                    "folder trained with --split ds1ds2 is scored on DS2 (its test split, seen by no "
                                    "search), per class (sensitivity Se, positive predictivity +P) and per patient. "
                                    "Paced records (102, 104, 107, 217) and Q beats are left out, as there.",
                        epilog="example: heartbeat protocol --data ../shared/data   (make protocol)\n" + EPILOG_DATA,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("--models", default="models", help="folder of model folders (default: models)")
    pr.add_argument("--data", default=None, help="MIT-BIH WFDB records (default: $HEARTBEAT_DATA, data/)")
    pr.add_argument("--out", default="results/ds1ds2", help="output folder (default: results/ds1ds2)")
    pr.set_defaults(func=cmd_protocol)

    ab = sub.add_parser("ablate", help="Table 3: the base model, then one change per row, each trained the same "
                                       "way over several seeds -> results/table3/",
                        description="Train the base gin file and each variant of heartbeat.ablation.VARIANTS "
                                    "(imbalance handling, dropout, width, depth, kernel, augmentation, rhythm, "
                                    "window, another family) with the same data, split and epochs, once per seed, "
                                    "JOBS at a time on one thread each. Finished runs are kept in runs.csv and "
                                    "skipped on a rerun; table.csv holds the mean and spread over seeds.",
                        epilog="example: heartbeat ablate --base gin/best/cnn1d-ds1ds2.gin --split ds1ds2 (make ablate)",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ab.add_argument("--base", default="gin/best/cnn1d-ds1ds2.gin", help="the base model's gin file")
    ab.add_argument("--split", choices=["intra", "inter", "ds1ds2"], default="ds1ds2", help="default: ds1ds2")
    ab.add_argument("--data", default=None, help="data source (default: $HEARTBEAT_DATA, data/; real data only)")
    ab.add_argument("--seeds", nargs="+", default=["0", "1"], help="fit seeds per row (default: 0 1)")
    ab.add_argument("--jobs", type=int, default=2, help="trainings at once, one thread each (default: 2)")
    ab.add_argument("--only", nargs="*", default=None, metavar="VARIANT", help="run only these rows (labels)")
    ab.add_argument("--out", default="results/table3", help="output folder (default: results/table3)")
    ab.set_defaults(func=cmd_ablate)

    sm = sub.add_parser("summary", help="build the two-page PDF summary from results/ and models/ (make summary)")
    sm.add_argument("--results", default="results", help="results folder (default: results)")
    sm.add_argument("--models", default="models", help="models folder (default: models)")
    sm.add_argument("--out", default="summary/summary.pdf", help="PDF to write (default: summary/summary.pdf)")
    sm.add_argument("--figures", default=None, help="folder of the static figures (default: RESULTS/figures)")
    sm.set_defaults(func=cmd_summary)

    rd = sub.add_parser("readme", help="rewrite the README's results block from results/ and models/ (make readme)")
    rd.add_argument("--readme", default="README.md", help="file to update (default: README.md)")
    rd.add_argument("--results", default="results", help="results folder (default: results)")
    rd.add_argument("--models", default="models", help="models folder (default: models)")
    rd.set_defaults(func=cmd_readme)

    nb = sub.add_parser("notebook", help="execute notebooks/analysis.ipynb headless, outputs kept (make notebook)")
    nb.add_argument("--out", default=None, help="executed notebook (default: in place)")
    nb.add_argument("--results", default=None, help="results folder (default: results/)")
    nb.add_argument("--models", default=None, help="models folder (default: models/)")
    nb.add_argument("--data", default=None, help="data for the data section (default: $HEARTBEAT_DATA, data/)")
    nb.set_defaults(func=cmd_notebook)
    return p


def cmd_shift(args) -> int:
    from heartbeat.shift import shift_report

    print(f"data shift of every model in {args.models}: unseen patients and corrupted test beats")
    shift_report(args.models, args.data, args.out, args.seed)
    return 0


def cmd_protocol(args) -> int:
    from heartbeat.protocol import protocol_report

    print(f"DS1 -> DS2 (de Chazal 2004): every ds1ds2 model in {args.models} on DS2")
    protocol_report(args.models, args.data, args.out)
    return 0


def cmd_ablate(args) -> int:
    from heartbeat.ablation import main_cli

    return main_cli(args)


def cmd_summary(args) -> int:
    from heartbeat.report.summary import build

    build(args.results, args.models, args.out, figure_dir=args.figures)
    return 0


def cmd_readme(args) -> int:
    from heartbeat.report.readme import update

    print("updated", update(args.readme, args.results, args.models))
    return 0


def cmd_notebook(args) -> int:
    from heartbeat.report import notebook

    argv = [f"--{k}={v}" for k in ("out", "results", "models", "data") if (v := getattr(args, k))]
    return notebook.main(argv)


def main(argv: list[str] | None = None) -> int:
    from heartbeat.errors import HeartbeatError

    args = build_parser().parse_args(argv)  # a usage error exits 2 here, from argparse
    try:
        return args.func(args)
    except HeartbeatError as exc:  # bad input: one line and exit 1; anything else is a bug: its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
