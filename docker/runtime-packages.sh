#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given programs load, one a line:
# what the image's runtime stage installs. Fails when a library is missing or owned by no package,
# so a build that links something new cannot produce an image that does not start.
#   docker/runtime-packages.sh build/bin/*
set -euo pipefail

owner() {  # package owning a library path; merged /usr means the path may be registered either way
  local path=$1 alt
  case "$path" in /usr/*) alt=${path#/usr} ;; *) alt=/usr$path ;; esac
  dpkg-query -S "$path" 2>/dev/null || dpkg-query -S "$alt" 2>/dev/null || dpkg-query -S "$(readlink -f "$path")" 2>/dev/null
}

libraries=()
for program in "$@"; do
  [ -f "$program" ] && [ -x "$program" ] || continue
  listing=$(ldd "$program" 2>/dev/null) || continue  # not a dynamic executable
  if grep -q 'not found' <<<"$listing"; then
    echo "runtime-packages: $program: $(grep 'not found' <<<"$listing" | head -1)" >&2
    exit 1
  fi
  while read -r path; do libraries+=("$path"); done < <(awk '$2 == "=>" {print $3}' <<<"$listing")
done

for path in $(printf '%s\n' "${libraries[@]}" | sort -u); do
  if ! line=$(owner "$path"); then
    echo "runtime-packages: no Debian package owns $path" >&2
    exit 1
  fi
  echo "${line%%:*}"
done | sort -u
