"""The model intensity space, in one place.

Every normalized volume lives in [LOW, HIGH] = [-1, 1] (data/normalize.py: the lower foreground
percentile maps to LOW, the upper to HIGH). LOW is also the air level: what the normalization's
clip gives the background, what the air gate writes (nets/gate.py), what sliding-window
inference pads with (infer/sliding.py) and where the histogram base sends voxels darker than the
source's tissue (nets/quantile_map.py). A leaf module (imports nothing from cyclescan) so data,
nets and infer can all depend on it.
"""

LOW = -1.0
HIGH = 1.0
AIR = LOW
