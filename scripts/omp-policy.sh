# Sourced by salient's launchers and bench scripts: the OpenMP wait policy salient runs with.
# Idle workers spin briefly, then sleep (libgomp's GOMP_SPINCOUNT=3000, no OMP_WAIT_POLICY).
# Sleeping at once (passive) cost batch-1 forward passes 40-50 % (MobileNetV2 63-95 img/s against
# 121-166 with the short spin, 2 quiet cores: waking a sleeping worker costs up to ~80 us a
# parallel region); spinning long (libgomp's default) on a machine shared with other work steals
# the cores the busy threads need (MobileNetV2 at batch 1 beside two CPU hogs: 2.4-38 img/s,
# against 55-58 with the short spin and 33-43 passive). docs/speed-log.md has the tables.
# An OMP_WAIT_POLICY or GOMP_SPINCOUNT already in the environment wins.
# salient_omp: the environment assignments for a salient process (empty when the environment chose);
# a launcher exports them, a bench script that also runs a peer passes them to salient's side only.
salient_omp=()
[[ -n "${OMP_WAIT_POLICY:-}${GOMP_SPINCOUNT:-}" ]] || salient_omp=(GOMP_SPINCOUNT=3000)
