"""reproduce.py's machinery: a sweep (config/paper/<table>.yaml) -> runs -> table + figures.

    sweep.py    load a sweep file, pick a preset, expand runs x images, name run folders
    execute.py  run each run once (local subprocesses, --jobs N) or on a Ray cluster
    results.py  read one run folder (summary.json, metrics.csv, failure record)
    table.py    the column spec and the Markdown/CSV table beside the paper's numbers
    figures.py  metric curves, reconstruction grid, network-size plot, selection maps
    speedup.py  the speed-up benchmark (item 6 of the reproduction issue)
"""
