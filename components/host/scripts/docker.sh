# Docker on its iptables backend (the nftables backend has no DOCKER-USER chain), with
# published ports defaulting to 127.0.0.1 so a forgotten bind address is not exposure.
read_params PACKAGES DAEMON_JSON
missing=()
for pkg in $(param PACKAGES); do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y install "${missing[@]}" > /dev/null
    CHANGED=true
fi
before="$CHANGED"
CHANGED=false
put_file DAEMON_JSON /etc/docker/daemon.json 0644
if [ "$CHANGED" = true ]; then
    systemctl restart docker
fi
[ "$before" = true ] && CHANGED=true

# verify
for pkg in $(param PACKAGES); do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || die "$pkg is not installed"
done
docker info --format '{{.ServerVersion}}' > /dev/null || die "the Docker daemon does not answer"
iptables -S FORWARD | grep -q -- '-j DOCKER-USER' || die "FORWARD does not jump to DOCKER-USER"
finish
