"""``heartbeat`` verbs: score model folders: one model on any data, every model on its split, data shift, DS1 -> DS2, raw recordings against annotations (endtoend, ec57)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heartbeat.options import EPILOG_DATA, add_device_arg, add_runtime_arg


def read_any(path: str | Path, task: str | None = None, window: str = "kachuee"):
    """Every beat of a beat file, or of a folder of WFDB records (built on the fly by ``window``, cached)."""
    from heartbeat.data import DataError, read_beats
    from heartbeat.data.sources import cached_wfdb_beats

    path = Path(path)
    if path.is_dir():
        if not any(path.glob("*.hea")):
            raise DataError(f"{path}: a folder here must hold WFDB records (*.hea); for beat files give the file")
        return cached_wfdb_beats(path, window=window)
    return read_beats(path, task=task)


def cmd_evaluate(args) -> int:
    import json

    from heartbeat.data.sources import describe
    from heartbeat.evaluation.evaluate import evaluate, json_ready
    from heartbeat.inference.modelio import load_model

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


def cmd_score(args) -> int:
    import pandas as pd

    from heartbeat.data.sample import sample_dir
    from heartbeat.data.sources import SYNTHETIC, resolve_source
    from heartbeat.evaluation.evaluate import score_models

    on = args.on
    default = Path("results/output.csv" if on == "valid" else f"results/output_{on}.csv")
    where = resolve_source(args.data)
    if where == sample_dir():
        # the committed full-data figures stay where they are: scores on the sample go beside them
        default = default.with_name(default.stem + "_sample.csv")
        print("data: the embedded sample (4 real MIT-BIH records shipped with the project); no --data, "
              "$HEARTBEAT_DATA or data/ given")
    elif where == SYNTHETIC:
        default = default.with_name(default.stem + "_synthetic.csv")
        print("data: SYNTHETIC beats, as asked (--data synthetic): the figures mean nothing")
    else:
        print(f"data: {where}" + ("" if args.data else " (from $HEARTBEAT_DATA or data/)"))
    print(f"scoring every model in {args.models} on its {on} split"
          + {"test": " (final evaluation: the test split)",
             "holdout": " (patients held out of train and test)"}.get(on, ""))
    scores = score_models(args.models, on=on, data=args.data)
    table = scores.table
    for w in scores.warnings:
        print("WARNING:", w, file=sys.stderr)
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6f")
    cells = confusions_path(out)
    scores.confusions.to_csv(cells, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(table.drop(columns=[c for c in ("data", "window", "split") if c in table], errors="ignore")
              .to_string(index=False))
    print("wrote", out, "and", cells)
    return 0


def confusions_path(out: Path) -> Path:
    """Where the confusion matrices go beside an output file: output.csv -> confusions.csv,
    output_test.csv -> confusions_test.csv, scores.csv -> scores_confusions.csv."""
    stem = out.stem.replace("output", "confusions", 1) if out.stem.startswith("output") else out.stem + "_confusions"
    return out.with_name(stem + out.suffix)


def cmd_shift(args) -> int:
    from heartbeat.evaluation.shift import shift_report

    print(f"data shift of every model in {args.models}: unseen patients and corrupted test beats")
    shift_report(args.models, args.data, args.out, args.seed)
    return 0


def cmd_protocol(args) -> int:
    from heartbeat.evaluation.protocol import protocol_report

    print(f"DS1 -> DS2 (de Chazal 2004): every ds1ds2 model in {args.models} on DS2")
    protocol_report(args.models, args.data, args.out)
    return 0


def annotated_folder(given: str | None) -> Path:
    """The folder of annotated WFDB records: ``--data``, else ``$HEARTBEAT_DATA/mitdb``, else ``data/mitdb``."""
    import os

    from heartbeat.errors import NotFoundError

    folder = Path(given) if given else Path(os.environ.get("HEARTBEAT_DATA") or "data") / "mitdb"
    if not folder.is_dir():
        raise NotFoundError(f"{folder}: no folder of annotated WFDB records; give --data FOLDER (NNN.hea, .dat, "
                            ".atr), or set HEARTBEAT_DATA to the folder that holds mitdb/")
    return folder


def cmd_endtoend(args) -> int:
    import json

    from heartbeat.data.splits import DS1, DS2
    from heartbeat.evaluation.endtoend import end_to_end
    from heartbeat.inference.modelio import load_model

    model = load_model(args.model, runtime=args.runtime)
    named = {"ds1": list(DS1), "ds2": list(DS2)}
    records = named.get(args.records.lower(), args.records.split(",")) if args.records else None
    data = annotated_folder(args.data)
    print(f"end-to-end: {model.tag} on {data}: detected R peaks against the annotated beats", file=sys.stderr)
    per, summary = end_to_end(model, data, records, log=lambda *a, **k: print(*a, file=sys.stderr, **k))
    on_ds2 = records is None or bool(set(records) & set(DS2))
    if model.info.split == "ds1ds2" and on_ds2:  # DS2, the unseen patients: a look, logged
        from heartbeat.evaluation.looks import log_look

        log_look("heartbeat endtoend", f"{model.tag} on {summary['records']} records", model.config,
                 {"macro_Se": summary.get("macro_Se_detected")})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per.to_csv(out / f"{model.tag}_per_record.csv", index=False, float_format="%.5f")
    (out / f"{model.tag}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{summary['records']} records: QRS Se {summary['qrs_Se']:.4f}, +P {summary['qrs_P']:.4f} "
          f"({summary['missed']} missed, {summary['extra']} extra of {summary['annotated']} beats); macro recall "
          f"{summary['recall_macro_annotated']:.4f} at annotated peaks, {summary['recall_macro_detected']:.4f} at "
          f"detected peaks\nwrote {out / (model.tag + '.json')} and {out / (model.tag + '_per_record.csv')}")
    return 0


def cmd_ec57(args) -> int:
    import json

    from heartbeat.evaluation import ec57
    from heartbeat.inference.modelio import load_model

    model = load_model(args.model, runtime=args.runtime)
    records = args.records.split(",") if args.records else None
    print(f"EC57: {model.tag} on {args.data}, the raw path end to end against the annotated beats", file=sys.stderr)
    _, result = ec57.run(model, args.data, records, learning_period=args.learning_period,
                         log=lambda *a, **k: print(*a, file=sys.stderr, **k))
    from heartbeat.data.splits import DS2

    if model.info.split == "ds1ds2" and set(result["records"]) & set(DS2):  # a look at DS2, logged
        from heartbeat.evaluation.looks import log_look

        c = result["classes"]
        se = [c[k]["se"] for k in ("N", "S", "V", "F")]
        log_look("heartbeat ec57", f"{model.tag} on {len(set(result['records']) & set(DS2))} DS2 records",
                 model.config, {"macro_Se": sum(se) / 4, **{f"Se_{k}": c[k]["se"] for k in "SVF"},
                                **{f"P_{k}": c[k]["ppv"] for k in "SV"}})
    if args.out:
        out = ec57.write(result, args.out)
        print(f"wrote {out / 'report.json'}, {out / 'per_record.csv'} and {out / 'matrix.csv'}", file=sys.stderr)
    print(json.dumps(ec57.to_json(result)) if args.json else ec57.text(result))
    return 0


def operate_curve(model, args) -> int:
    """``heartbeat operate --curve``: the Se / +P trade-off of S and V on the validation split and, for a
    ds1ds2 model, on DS2 (the unseen patients: a look, logged). The folder is left as it is."""
    import pandas as pd

    from heartbeat.evaluation.evaluate import split_of
    from heartbeat.evaluation.looks import log_look
    from heartbeat.inference import operating

    cache, parts = {}, []
    sides = ["valid", "test"] if model.info.split == "ds1ds2" else ["valid"]
    for side in sides:
        beats, ds = split_of(model, args.data, side, cache)
        P = model.proba_beats(beats)
        part = operating.tradeoff(beats.y, P, model.classes, model.weights)
        parts.append(part.assign(side="DS2" if side == "test" else "valid (DS1)" if ds.split == "ds1ds2" else side))
        if side == "test":
            at = part[part["at_point"]].set_index("class")
            log_look("heartbeat operate --curve", f"{model.tag}: Se/+P trade-off of S and V", model.config,
                     {f"{k}_{c}": at.loc[c, col] for c in at.index for k, col in (("Se", "Se"), ("P", "P"))})
    curve = pd.concat(parts, ignore_index=True)
    out = Path(args.curve)
    out.parent.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out, index=False, float_format="%.5f")
    for (side, c), g in curve.groupby(["side", "class"], sort=False):
        at = g[g["at_point"]].iloc[0]
        print(f"{model.tag} {side} {c}: Se {g['Se'].min():.3f}..{g['Se'].max():.3f} over the weights; at the "
              f"operating point (w {at['weight']:.2f}) Se {at['Se']:.3f}, +P {at['P']:.3f}")
    print(f"wrote {out}")
    return 0


def cmd_operate(args) -> int:
    from heartbeat.errors import DataError, ExistsError
    from heartbeat.evaluation.evaluate import split_of
    from heartbeat.inference import operating
    from heartbeat.inference.modelio import load_model

    model = load_model(args.model)
    if args.curve:
        return operate_curve(model, args)
    if args.clear:
        (Path(args.model) / operating.OPERATING_FILE).unlink(missing_ok=True)
        print(f"{model.tag}: operating point removed; it decides by plain argmax again")
        return 0
    targets = operating.parse_targets(args.target or ["S=0.9", "V=0.95"], model.classes)
    if (Path(args.model) / operating.OPERATING_FILE).exists() and not args.force:
        raise ExistsError(f"{Path(args.model) / operating.OPERATING_FILE} already exists; give --force to choose "
                          "it again, or --clear to remove it")
    valid, ds = split_of(model, args.data, "valid", {})
    if ds.synthetic or ds.sample:
        raise DataError("an operating point is chosen on the model's own validation split, which needs the data "
                        "it was trained on: give --data (the embedded sample and synthetic beats cannot rebuild it)")
    P = model.proba_beats(valid)
    se0, ppv0 = operating.recall_precision(valid.y, P.argmax(1), len(model.classes))
    w, after = operating.choose_weights(valid.y, P, model.classes, targets, max_loss=args.max_loss)
    before = {"se": dict(zip(model.classes, map(float, se0))), "ppv": dict(zip(model.classes, map(float, ppv0)))}
    where = f"validation split of {ds.source} ({len(valid)} beats)"
    path = operating.write(args.model, model.classes, w, targets, where, before, after)
    print(f"{model.tag}: operating point chosen on the {where}")
    print(f"  {'class':<6}{'weight':>8}{'Se before':>11}{'Se after':>10}{'+P before':>11}{'+P after':>10}  target")
    for i, c in enumerate(model.classes):
        goal = f"{targets[c]:.3f}" + ("" if after["reached"].get(c, True) else " (not reached)") if c in targets else ""
        print(f"  {c:<6}{w[i]:>8.2f}{se0[i]:>11.3f}{after['se'][c]:>10.3f}{ppv0[i]:>11.3f}{after['ppv'][c]:>10.3f}  {goal}")
    print(f"wrote {path}: predict, evaluate, ec57 and serve decide with it")
    return 0


def add_parsers(sub) -> None:
    """Register this module's verbs on the CLI's subparsers."""
    e = sub.add_parser("evaluate", help="one model folder on any data: metrics, or --json")
    e.add_argument("--model", required=True, help="model folder (models/<tag>)")
    e.add_argument("--data", required=True, help="beat file (.parq/.csv) or folder of WFDB records")
    e.add_argument("--json", action="store_true", help="print one JSON object (NaN recall of an absent class: null)")
    add_runtime_arg(e)
    add_device_arg(e)
    e.set_defaults(func=cmd_evaluate)

    op = sub.add_parser("operate", help="a recall-first operating point: per-class weights reaching target "
                                        "sensitivities on the model's validation split",
                        description="Choose per-class weights w (a beat is labelled argmax(p * w)) so that each "
                                    "target class reaches its target sensitivity on the model's validation split "
                                    "(for a ds1ds2 model: records inside DS1, never DS2), and store them in the "
                                    "model folder (operating_point.json), without any other class losing more than "
                                    "--max-loss of its sensitivity. More sick beats found, at the cost of more false "
                                    "alarms: the +P columns say how many.",
                        epilog="example: heartbeat operate --model models/cnn1d-ds1ds2 --data ../shared/data "
                               "--target S=0.9 --target V=0.95",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    op.add_argument("--model", required=True, help="model folder (models/<tag>)")
    op.add_argument("--target", action="append", default=[], metavar="CLASS=SE",
                    help="target sensitivity of a class, repeatable (default: S=0.9 and V=0.95)")
    op.add_argument("--data", default=None, help="the data the model was trained on (default: $HEARTBEAT_DATA, data/)")
    op.add_argument("--max-loss", type=float, default=0.05,
                    help="the most sensitivity any other class may lose, from its plain-argmax value, so that a "
                         "target class finds more (default: 0.05)")
    op.add_argument("--force", action="store_true", help="replace an operating point the folder already has")
    op.add_argument("--clear", action="store_true", help="remove the folder's operating point (plain argmax)")
    op.add_argument("--curve", default=None, metavar="CSV",
                    help="write the Se/+P trade-off of S and V instead (each weight swept, the others held at the "
                         "folder's operating point), on the validation split and, for a ds1ds2 model, on DS2 (a "
                         "look, logged); the folder is not changed. e.g. --curve results/ds1ds2/tradeoff.csv")
    op.set_defaults(func=cmd_operate)

    r = sub.add_parser("score", help="every model in models/ on its valid (or test) split -> results/output.csv",
                       epilog=EPILOG_DATA, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--models", default="models", help="folder of model folders (default: models)")
    r.add_argument("--on", choices=["valid", "test", "holdout"], default="valid",
                   help="valid (default), test (the final evaluation only) or holdout (the patients the "
                        "model was trained without, when it was trained with --holdout)")
    r.add_argument("--data", default=None, help="data source (default: $HEARTBEAT_DATA, else data/, else the embedded sample)")
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

    ee = sub.add_parser("endtoend", help="detected R peaks against annotated beats: QRS Se/+P, and classification "
                                         "at detected vs annotated peaks -> results/endtoend/",
                        description="End-to-end accuracy on annotated WFDB records. A ds1ds2 model is scored on the "
                                    "DS2 records by default (paced records and Q beats left out), any other model "
                                    "on every record.")
    ee.add_argument("--model", required=True, help="model folder (models/<tag>)")
    ee.add_argument("--data", default=None,
                    help="folder of annotated WFDB records (default: $HEARTBEAT_DATA/mitdb, else data/mitdb)")
    ee.add_argument("--records", default=None,
                    help="comma-separated records, or ds1 / ds2 for de Chazal's sets (default: see above)")
    ee.add_argument("--out", default="results/endtoend", help="output folder (default: results/endtoend)")
    add_runtime_arg(ee)
    ee.set_defaults(func=cmd_endtoend)

    ec = sub.add_parser("ec57", help="ANSI/AAMI EC57 report of the raw path on annotated records: QRS, VEB, SVEB "
                                     "gross and record-average, the class matrix, de Chazal's per-class table",
                        description="Run the whole raw path (detect R peaks, cut beats and rhythm, classify) on "
                                    "annotated WFDB records and compare it beat by beat with the reference "
                                    "annotations as ANSI/AAMI EC57 does (150 ms match window): per record, gross "
                                    "and record-average QRS Se/+P, VEB and SVEB Se/+P/FPR; the AAMI class matrix "
                                    "(with missed beats and extra detections); per-class Se/+P at detected and at "
                                    "annotated peaks. De Chazal's and the inter-patient literature's rows compare "
                                    "with the per-class table at annotated peaks; results reported as EC57 with "
                                    "the gross VEB/SVEB. A ds1ds2 model is scored on the DS2 records present by "
                                    "default, any other model on every record of the folder.",
                        epilog="example: heartbeat ec57 --model models/cnn1d-ds1ds2 --data ../shared/data/mitdb "
                               "--out results/ec57/cnn1d-ds1ds2",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ec.add_argument("--model", required=True, help="model folder (models/<tag>) of the 5 AAMI classes")
    ec.add_argument("--data", required=True, help="folder of annotated WFDB records (NNN.hea, .dat, .atr)")
    ec.add_argument("--records", default=None, help="comma-separated records (default: see above)")
    ec.add_argument("--json", action="store_true", help="print one JSON object (an undefined statistic: null)")
    ec.add_argument("--out", default=None, help="also write report.json, per_record.csv and matrix.csv here")
    ec.add_argument("--learning-period", action="store_true",
                    help="EC57's learning period: beats in each record's first 5 minutes are not scored")
    add_runtime_arg(ec)
    ec.set_defaults(func=cmd_ec57)
