"""``heartbeat`` verbs: the reports: the two-page summary, the README's results block, the analysis notebook."""

from __future__ import annotations


def cmd_summary(args) -> int:
    from heartbeat.report.summary import build, compile_text

    if args.compile:
        compile_text(args.compile, args.out, png=args.png)
    else:
        build(args.results, args.models, args.out, figure_dir=args.figures, png=args.png)
    return 0


def cmd_readme(args) -> int:
    from heartbeat.report.readme import update

    print("updated", update(args.readme, args.results, args.models))
    return 0


def cmd_notebook(args) -> int:
    from heartbeat.report import notebook

    argv = [f"--{k}={v}" for k in ("notebook", "out", "results", "models", "data", "timeout") if (v := getattr(args, k))]
    return notebook.main(argv)


def add_parsers(sub) -> None:
    """Register this module's verbs on the CLI's subparsers."""
    sm = sub.add_parser("summary", help="write the summary's text (summary/summary.json) from results/ and models/ and compile its two-page PDF (make summary)")
    sm.add_argument("--results", default="results", help="results folder (default: results)")
    sm.add_argument("--models", default="models", help="models folder (default: models)")
    sm.add_argument("--out", default="summary/summary.pdf", help="PDF to write (default: summary/summary.pdf)")
    sm.add_argument("--figures", default=None, help="folder of the summary's figures (default: figures/ beside --out)")
    sm.add_argument("--png", default=None, metavar="DIR",
                    help="also draw each page as DIR/page-1.png and page-2.png, to read them as a reader would "
                         "(e.g. --png summary/pages)")
    sm.add_argument("--compile", default=None, metavar="TEXT",
                    help="only compile the PDF (--out) from a written summary text, e.g. summary/summary.json "
                         "(the summary writes its text there, beside the PDF, then compiles it)")
    sm.set_defaults(func=cmd_summary)

    rd = sub.add_parser("readme", help="rewrite the README's results block from results/ and models/ (make readme)")
    rd.add_argument("--readme", default="README.md", help="file to update (default: README.md)")
    rd.add_argument("--results", default="results", help="results folder (default: results)")
    rd.add_argument("--models", default="models", help="models folder (default: models)")
    rd.set_defaults(func=cmd_readme)

    nb = sub.add_parser("notebook", help="execute notebooks/analysis.ipynb (or --notebook) headless, outputs kept "
                                         "(make notebook runs both notebooks)")
    nb.add_argument("--notebook", default=None,
                    help="notebook to run (default: notebooks/analysis.ipynb; the other is "
                         "notebooks/manual_exploration.ipynb, which trains what results/exploration/ lacks)")
    nb.add_argument("--out", default=None, help="executed notebook (default: in place)")
    nb.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: 900)")
    nb.add_argument("--results", default=None, help="results folder (default: results/)")
    nb.add_argument("--models", default=None, help="models folder (default: models/)")
    nb.add_argument("--data", default=None, help="data for the data section (default: $HEARTBEAT_DATA, data/)")
    nb.set_defaults(func=cmd_notebook)
