"""reproduce.py's machinery: a sweep (config/paper/<table>.yaml) -> runs -> table + figures.

    columns.py       a table column's spec (checked when a sweep is read) and its value in a run
    sweep.py         read a sweep file, pick a preset, expand runs x images, name run folders
    run_folder.py    one run folder: its results, its state (finished / interrupted / stale)
                     and plan, readied before and recorded after a run
    local.py         run locally: one subprocess per run, --jobs N at a time
    ray_backend.py   run on a Ray cluster: one task per run
    execute.py       plan every run of a sweep and hand the unfinished ones to a backend
    collect.py       a sweep's results gathered for the reports; which rows are NINT, which its rivals
    table.py         the Markdown/CSV table beside the paper's numbers
    figures.py       metric curves, reconstruction grid, network-size plot, selection maps
    speedup.py       the speed-up benchmark's report: time, iterations, per-iteration cost,
                     a recommendation; the release's clock with --release-clock
    scale.py         the scale ladder's report: each run's ratios to Standard and to the best
                     other sampler by image side and network, and their figure
    noise.py         the noise rules: an iteration difference of one evaluation interval, a
                     one-run seconds difference under the spread the repeated tables measure
    paper_size.py    the paper-size sweep's report: its runs less those committed, the
                     committed rows merged with new runs, bounds, the projection
    paper_size_verdicts.py  the scorecard's column at the paper's size (that sweep's file)
    claims.py        the paper's claims checked against the paper's numbers and ours, on
                     iterations and on seconds apart (and the scale ladder's)
    findings.py      "what the numbers say": three findings computed from the results files
    scorecard.py     claims_<preset>.md: the one-screen scorecard, the findings, one section
                     per claim
    report.py        results/README.md, the reproduction report, from the results files
                     those above wrote (it reads files only, imports none of them)

Imports go one way: a module imports only modules listed above it. columns and
run_folder import none of the others; execute imports the two backends, which know
nothing of each other; the reports (table, figures, speedup, claims) read collect and
columns (claims also reads sweep files, the scale ladder's rows from scale and the
release's clock from speedup; findings and scorecard read claims) and never each other
otherwise, nor the backends.
"""
