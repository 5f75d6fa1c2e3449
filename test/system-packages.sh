#!/usr/bin/env bash
# The Debian packages the test suite needs, checked before it runs. As root with apt-get,
# whatever is missing is installed; otherwise the run stops at once, naming the packages
# and the command that installs them. Tests that need a package fail (never skip) without
# it, so a run that passes has exercised every part.
set -euo pipefail

# What the suite runs (a command on the system PATH, or a path) and the package with it.
needed=(
  "bwrap bubblewrap"            # the app sandbox
  "slirp4netns slirp4netns"     # outbound network for sandboxed apps that ask for it
  "ip iproute2"                 # network namespaces for the NAT lab
  "nft nftables"                # the lab's NAT routers
  "tcpdump tcpdump"             # what a relay can see, captured
  "/usr/sbin/sshd openssh-server" # a real SFTP backup target
  "chattr e2fsprogs"            # files the backup target cannot change
  "mkfs.btrfs btrfs-progs"      # a btrfs subvolume, whose files' devices are their own
  "/usr/bin/chromium chromium"  # the control panel in a browser
  "podman podman"               # image apps run in containers
  "runc runc"                   # the runtime Podman runs them with
  "skopeo skopeo"               # pushes test images into the registry
  "docker-registry docker-registry" # a real registry on loopback
  "/bin/busybox busybox-static" # the root file system of the test images
  "pebble pebble"               # a real ACME CA for the gateway's certificates
  "openssl openssl"             # pebble's own API certificate
  "strace strace"               # the syncs a local write makes, counted
  "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc fonts-wqy-microhei" # its Chinese pages, readable in screenshots
)
# With --bench (just bench): the anchors the benchmarks measure beside bucky too.
if [[ ${1:-} == --bench ]]; then
  needed+=(
    "wrk wrk"
    "nginx nginx"
    "caddy caddy"
    "restic restic"
    "curl curl"
    "/usr/bin/time time"        # the peak memory of a backup, bucky's and restic's
  )
fi

system_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
missing=()
for entry in "${needed[@]}"; do
  read -r what package <<<"$entry"
  if [[ $what == /* ]]; then
    [[ -e $what ]] || missing+=("$package")
  else
    PATH=$system_path command -v "$what" >/dev/null 2>&1 || missing+=("$package")
  fi
done
((${#missing[@]} == 0)) && exit 0

install="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need these system packages: ${missing[*]}; install them with: sudo $install" >&2
  exit 1
fi
echo "installing the system packages the tests need: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh box may have no package lists yet: update once, then try again.
if ! $install >/dev/null 2>&1; then
  apt-get update >/dev/null 2>&1 || true
  if ! $install >/tmp/bucky-apt.log 2>&1; then
    echo "could not install ${missing[*]} (see /tmp/bucky-apt.log); install them with: $install" >&2
    exit 1
  fi
fi
