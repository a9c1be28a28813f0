# Sourced by the image scripts: podman with private storage under build/image and the two
# settings this kind of machine needs (runc: crun refuses its hybrid cgroups; the host's
# nofile hard limit). See /work/shared/guide/containers-here.md.
W=${W:-${BRM_IMAGE_WORK:-$PWD/build/image}}
mkdir -p "$W"
cat > "$W/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF=$W/containers.conf
P="podman --root $W/storage --runroot $W/run --storage-driver overlay"
