"""Reporting: tables and figures from the results of searches and fits, the notebook and the PDF summary.

``tables`` reads ``results/`` and ``models/`` into DataFrames, ``figures`` draws them (matplotlib
for the notebook and its static images under ``results/figures/``), ``summary`` fills
``summary/summary.typ`` and compiles it to the two-page ``summary/summary.pdf``, with its own
figures in ``summary/figures/``, ``notebook``
executes ``notebooks/analysis.ipynb`` headless. Every number shown comes from those files.
"""
