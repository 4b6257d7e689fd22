"""Sweeps: many runs of one config, each an ordinary bundle inside a sweep folder.

    runs/<experiment>/sweep-<id>/
      sweep.json      the plan and the record: jobs (or Optuna trials), their overrides,
                      status, bundle and monitored value; the best job or trial(s)
      <run-id>/       one bundle per job or trial
      optuna.db       the Optuna study (default storage), plots as PNG

`ednax run CONFIG -m ...` (`launch.prepare_sweep`, `launch.start_sweep`) composes the
config's `hydra:` section to learn the sweeper and launcher (`hydra_run`), parses the sweep
overrides with Hydra's grammar (`overrides`) into a grid's jobs (`grid`) or an Optuna
search space (`search_space`), validates every job before any work, writes sweep.json
(`record`) and hands Hydra a multirun over job numbers (`hydra_run`). Hydra's launcher
then calls `jobs.run_job` once per job; the job reads its overrides from sweep.json,
composes them with ednax's own rules and runs an `Experiment`. The Optuna sweeper
(`hydra_plugins.ednax_optuna`) drives `optuna_search`: it opens the study (`optuna_study`,
in its `storage`) and launches search workers (`optuna_worker`: each asks for a trial as
soon as its last one ended) or, with a launcher that starts a job per trial, batches of
trials (`trials`); a trial reports every epoch (`pruning`) and tells the study how it ended
(`outcome`). Every job composes and runs its bundle the same way (`job_run`).

A job's bundle and its entry in sweep.json say the same; when a killed job's process cannot
say it, the sweep settles both (`bundles` has the rule; `resumed`: a bundle resumed on its
own tells its sweep). A job in a child process of the sweep ends soon after the sweep's
process dies (`lifeline`).

Each module imports only modules below it:
storage, outcome, lifeline -> bundles -> record, overrides, hydra_run, plots, pruning ->
settings, grid, search_space -> seeding, optuna_study -> job_run -> trials -> optuna_worker
-> jobs, optuna_search, resumed -> launch.
"""
