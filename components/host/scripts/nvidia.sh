# Dormant GPU tier: the NVIDIA driver and container toolkit, installed only when the
# stack turns the GPU tier on. A new driver needs a reboot, which is reported, not done.
read_params PACKAGES
missing=()
for pkg in $(param PACKAGES); do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y install "${missing[@]}" > /dev/null
    CHANGED=true
fi
if command -v nvidia-smi > /dev/null && ! nvidia-smi > /dev/null 2>&1; then
    log "the driver is installed but not loaded: a reboot is needed (not done by demesne)"
fi
finish
