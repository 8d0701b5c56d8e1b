"""The examples `workbench --help` and `workbench COMMAND --help` print below the options."""

from __future__ import annotations

MAIN_EXAMPLES = """\
examples:
  workbench pretrain --task mnist-5k:0-4 --epochs 5 --name source
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode parameter --freeze-depth 2 --per-class 5 --epochs 10
  workbench compare --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench transfer --source runs/source --task mnist-5k:5-9 --edit "cut conv2" --edit "add dense 128" --per-class 5
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench sweep-budget --source runs/source --task mnist-5k:5-9 --budgets 1,5,25,all --seeds 3
  workbench lr-find --source runs/source --task mnist-5k:5-9 --per-class 20
  workbench rank --sources runs/source --task mnist-5k:5-9 --per-class 5 --verify
  workbench resume NAME
  workbench runs
  workbench report
  workbench export tensorboard runs --logdir tensorboard-logs

Tasks are DATASET[:CLASSES]: mnist-5k:0-4, digits, cifar10:cat,dog,horse,
folder:../shared/data/cifar10-mini:cat,dog. mnist-5k and digits are embedded and work offline;
--data-root DIR reads cifar10 from a folder copy instead of downloading. --preset near, far,
cifar-near or cifar-far sets the tasks (and, for the photos, epochs and label budgets).
"""

COMMAND_EXAMPLES = {
    "pretrain": """\
examples:
  workbench pretrain --task mnist-5k:0-4 --epochs 5 --name source
  workbench pretrain --task folder:../shared/data/cifar10-mini:airplane,automobile,ship,truck --epochs 10 --name vehicles
  workbench pretrain -f params.yaml -p epochs 3
  workbench pretrain --preset cifar-far --data-root ../shared/data/cifar10-mini --name photos
""",
    "transfer": """\
examples:
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode parameter --freeze-depth 2 --per-class 5 --epochs 10
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode feature --per-class 5
  workbench transfer --source runs/source --task digits:5-9 -p mode structure -p seed 3
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode feature --per-class 5 --no-cache
  workbench transfer --source runs/source --task mnist-5k:5-9 --edit "cut conv2" --edit "add dense 128" --edit "add dropout 0.3"
  workbench transfer --source runs/source --task mnist-5k:5-9 --edit "widen dense1 to 128" --edit "deepen after conv2"
  workbench transfer --source runs/source --task mnist-5k:5-9 -p edits "widen conv2 to 96" --grow-noise 0.01
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode structure --edit "cut conv3" --edit "hidden 128"

Structure edits (--edit, repeatable) adapt the source's architecture; --mode parameter or feature
carries its weights wherever they still fit, and widen/deepen (Net2Net) grow the trained network
so that it computes the same function before training. transfer.txt in the run lists, for every
layer, whether it was kept, cut, added or grown, and what its weights started from.
""",
    "compare": """\
examples:
  workbench compare --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench compare --source runs/source --task mnist-5k:5-9 --seeds 0,4,7 --modes structure,parameter --freeze-depth 2
  workbench compare --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 5 -j 2
  workbench compare --preset cifar-far --data-root ../shared/data/cifar10-mini --source runs/photos --seeds 3
  workbench compare --source /shared/runs/source --runs-dir /shared/runs --seeds 10 --cluster tcp://10.0.0.5:8786
  workbench compare --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --edit "widen dense1 to 128"
""",
    "sweep-depth": """\
examples:
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --depths 0,2,4 --seeds 2 --no-fine-tuned
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 -j 2
  WORKBENCH_CLUSTER=tcp://10.0.0.5:8786 workbench sweep-depth --source runs/source --runs-dir /shared/runs --seeds 5

For each n: copy the first n blocks and freeze them (AnB), or copy them and fine-tune everything
(AnB+), against the structure baseline. Prints the table; writes the figure as offline HTML.
""",
    "sweep-budget": """\
examples:
  workbench sweep-budget --source runs/source --task mnist-5k:5-9 --budgets 1,2,5,10,25,50,all --seeds 3
  workbench sweep-budget --source runs/source --task mnist-5k:5-9 --budgets 1,5 --modes feature,parameter -j 2
  workbench sweep-budget --preset cifar-far --data-root ../shared/data/cifar10-mini --source runs/photos -j 2
  workbench sweep-budget --source /shared/runs/source --runs-dir /shared/runs --seeds 10 --cluster tcp://10.0.0.5:8786

Every mode at every labels-per-class budget; the figure (log x) is written as offline HTML.
""",
    "lr-find": """\
examples:
  workbench lr-find --source runs/source --task mnist-5k:5-9 --per-class 20
  workbench lr-find --task mnist-5k:0-4 --min-lr 1e-5 --max-lr 1 --steps 100

Trains one batch per step at exponentially growing learning rates on exactly the model a run
with these parameters would train, restores the weights, and suggests a rate.
""",
    "rank": """\
examples:
  workbench rank --sources runs/source --task mnist-5k:5-9 --per-class 5
  workbench rank --sources runs/source --task mnist-5k:5-9 --per-class 5 --verify --epochs 3 -j 2
  workbench rank --sources /shared/runs/source --runs-dir /shared/runs --verify --cluster tcp://10.0.0.5:8786
  workbench rank --sources runs/digits04,runs/fashion --task mnist-5k:5-9 --verify

One source: LogME, LEEP and a linear probe at every cut point, in seconds, and a suggested freeze
depth. Several sources: a ranking by LogME at the penultimate layer. --verify then runs the real
fine-tunes and prints Kendall tau and Spearman rho between each score and the accuracies.
""",
    "resume": """\
examples:
  workbench resume source
  workbench resume parameter-fd2-s0-20261127-181500-a1b2 --runs-dir /tmp/study/runs

Continues a run that was killed (or interrupted with Ctrl-C) after at least one finished epoch,
from its last checkpoint, to its configured epoch count, with one continuous history.
""",
    "runs": """\
examples:
  workbench runs
  workbench runs --runs-dir /tmp/study/runs --json
""",
    "report": """\
examples:
  workbench report                          # every notebook in reports/config.yaml -> reports/index.html
  workbench report --quick                  # tiny parameters (CI): a minute or two
  workbench report -p epochs 20 -p seeds 5  # papermill-style overrides, for every notebook that declares them
  workbench report -f study.yaml -j 2 --output-dir /tmp/study-reports
  workbench report --cluster tcp://10.0.0.5:8786 -o /shared/reports   # the notebooks' runs on a Dask cluster
  workbench report --config other/config.yaml --timeout 600 --kernel workbench
  workbench report --bundle reports.zip     # also one zip to share: index, reports, metrics.json
  workbench report --quick --baseline .ci/baseline-quick --fail-on-regression --junit reports/junit.xml
  workbench report --no-cache                # train every run again (by default finished runs are reused)

Parameters, later ones winning: the config's `parameters`, its `quick` (with --quick), -f FILE, -p NAME VALUE.
A notebook that fails or times out is marked failed in the index; the others still run; the exit code is 1.
With --fail-on-regression, an accuracy that got worse than the baseline's beyond noise exits 3 (when no
notebook failed): its paired 95% interval of today - baseline lies below zero, or, where the seeds do not
pair, it fell by more than 0.05.
""",
    "export": """\
examples:
  workbench export tensorboard runs --logdir tensorboard-logs   # then: make tensorboard
  workbench export tensorboard reports --logdir tensorboard-logs  # every report notebook's runs
  workbench export mlflow runs                                   # into sqlite:///mlruns.db
  workbench export mlflow reports --tracking-uri http://127.0.0.1:5000 --experiment nightly

Runs are found at any depth below RUNS_DIR and named by their path there. TensorBoard gets per-epoch
loss and accuracy (train/, validation/) and the HParams dashboard (config fields against test accuracy);
exporting again rewrites them. MLflow gets parameters, per-epoch metrics, the run directory as
artifacts and tags; runs exported before are skipped (matched by fingerprint). Live logging while
training: --tensorboard DIR on pretrain, transfer, compare and the sweeps.
""",
}
