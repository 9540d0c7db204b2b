#!/bin/bash
# Issue 9, session 12: what more compute buys, on a GPU (docs/results.md section 1, "What more
# compute buys"). Three runs side by side on one GPU, each capped at $TL seconds, then
# `cyclescan evaluate` (fp32, clean truth, per-tissue labels) of every checkpoint, both ways:
#   u6        configs/phantom.yaml unpaired, 6x its steps (36 patches per volume: 5,184 steps)
#   u6_g32d4  the same with a 10x larger generator (U-Net 32 ch, depth 4)
#   paired10x the same 16-ch generators trained with pairs (scripts/paired_ceiling.py), 8,640 steps
# and, with PAIRED_ONLY=1, the paired model alone at 2,880 steps (full LR schedule), evaluated with
# the default detail transfer and raw.
#   PHANTOM=... PAIRS=... bash scripts/gpu_scaling.sh        # results in $OUT (default /tmp/gpu_scaling)
# PHANTOM: `cyclescan phantom DIR`; PAIRS: `cyclescan phantom DIR --train-subjects 1 --val-subjects 1
# --test-subjects 8 --seed 1`. SMOKE=1 runs the same commands tiny on the CPU (a check, minutes).
# A folder .whl of wheels (nibabel, pydicom, monai) is installed first when present: the lent GPU
# machines of this project's workplace have torch but not these.
set -u
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
CS="$PY -m cyclescan.cli.main"
P=${PHANTOM:-runs/dev/phantom}
PAIRS=${PAIRS:-runs/dev/pairs}
OUTD=${OUT:-/tmp/gpu_scaling}
R=${R:-/tmp/gpu_scaling_runs}
L=$R/logs
mkdir -p "$OUTD" "$L"
T0=$(date +%s)
if [ "${SMOKE:-0}" = 1 ]; then
  DEV=cpu; TL=300
  U_SCALE="--epochs 1 --set data.patches_per_volume=1 --set train.val_every=1"
  PAIRED="--steps 4 --every 2 --steps-per-epoch 2 --subjects 1"; PAIRED2="$PAIRED"
else
  DEV=cuda; TL=${TL:-400}
  U_SCALE="--set data.patches_per_volume=36"                                  # 288 steps/epoch x 18
  PAIRED="--steps 8640 --every 1440 --steps-per-epoch 480 --subjects 4"      # 10x the config's 864 steps
  PAIRED2="--steps 2880 --every 2880 --steps-per-epoch 160 --subjects 4"     # 3.3x, full schedule
fi

ev() {  # checkpoint tag [evaluate options]
  local ck=$1 tag=$2; shift 2
  [ -f "$ck" ] || { echo "no $ck"; return; }
  $CS evaluate --checkpoint $ck --direction a2b --source $P/test/ciss --target $P/test/dess --clean-target $P/test/clean/dess \
      --labels $P/test/labels --precision fp32 --out $L/ev_${tag}_a2b.json --quiet "$@" > $L/ev_$tag.log 2>&1
  $CS evaluate --checkpoint $ck --direction b2a --source $P/test/dess --target $P/test/ciss --clean-target $P/test/clean/ciss \
      --labels $P/test/labels --precision fp32 --out $L/ev_${tag}_b2a.json --quiet "$@" >> $L/ev_$tag.log 2>&1
}

if [ "${PAIRED_ONLY:-0}" = 1 ]; then
  timeout $TL $PY scripts/paired_ceiling.py --phantom $P --pairs $PAIRS --config configs/phantom.yaml \
      --set train.device=$DEV $PAIRED2 --checkpoint $R/paired2880.pt --json $L/paired2880.json > $L/paired2880.log 2>&1
  ev $R/paired2880.pt paired2880 & ev $R/paired2880.pt paired2880_raw --detail-sigma 0 &
  wait
else
  train_arm() {  # name [overrides]
    local name=$1; shift
    timeout $TL $CS train --phantom $P --out $R/$name --config configs/phantom.yaml $U_SCALE \
        --set data.num_workers=2 --device $DEV --quiet "$@" > $L/$name.log 2>&1
    echo "$name rc=$? at $(( $(date +%s) - T0 )) s" >> $L/$name.log
  }
  train_arm u6 &
  train_arm u6_g32d4 --set generator.base_channels=32 --set generator.depth=4 &
  ( timeout $TL $PY scripts/paired_ceiling.py --phantom $P --pairs $PAIRS --config configs/phantom.yaml \
        --set train.device=$DEV $PAIRED --checkpoint $R/paired10x.pt --json $L/paired10x.json > $L/paired10x.log 2>&1
    echo "paired10x rc=$? at $(( $(date +%s) - T0 )) s" >> $L/paired10x.log ) &
  wait
  for r in u6 u6_g32d4; do
    ev $R/$r/checkpoints/best.pt ${r}_best & ev $R/$r/checkpoints/last.pt ${r}_last &
    cp $R/$r/history.csv $L/$r.history.csv 2>/dev/null
  done
  ev $R/paired10x.pt paired10x &
  wait
fi
rm -f $L/*.npz
tar czf $OUTD/results.tar.gz -C $R logs
echo "done at $(( $(date +%s) - T0 )) s; results in $OUTD/results.tar.gz"
