#!/usr/bin/env bash
# Installing Bouncer as a service, end to end, from the release build:
#   1. `cmake --install` into a prefix: the binary, the docs, the example configuration and the
#      systemd unit, whose paths are the prefix's; a second install keeps an edited config;
#   2. the Debian package made by CPack: its control data (dependencies from dpkg-shlibdeps,
#      maintainer scripts, the config as a conffile) and its files, with dpkg-deb;
#   3. its systemd unit, with `systemd-analyze verify` and against the service's settings;
#   4. the packaged binary run from the extracted package: --version, then a real `serve` (the
#      packaged config, a temporary data dir, port 0) answering /healthz and minting a token.
# Usage: deb_test.sh RELEASE_BUILD_DIR (scripts/test builds build/release before ctest).
set -euo pipefail

build=${1:?usage: deb_test.sh RELEASE_BUILD_DIR}
checks=0
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() {
  checks=$((checks + 1))
  echo "ok: $*"
}
has_line() {  # FILE LINE: LINE is one of FILE's lines, exactly
  grep -qxF -- "$2" "$1"
}

if [ ! -f "$build/CPackConfig.cmake" ] || [ ! -x "$build/bouncer" ]; then
  fail "no release build in $build: run cmake --preset release && cmake --build --preset release (scripts/test does)"
fi
for tool in cpack dpkg-deb dpkg-shlibdeps file systemd-analyze curl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: run scripts/install-deps"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bouncer-deb-test.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. cmake --install into a prefix ----
prefix="$work/prefix"
timeout 120 cmake --install "$build" --prefix "$prefix" --component bouncer >"$work/install.log" 2>&1 ||
  fail "cmake --install failed: $(cat "$work/install.log")"
for f in bin/bouncer share/doc/bouncer/README.md share/doc/bouncer/OPERATIONS.md etc/bouncer/bouncer.toml \
  lib/systemd/system/bouncer.service; do
  [ -f "$prefix/$f" ] || fail "cmake --install left no $f in the prefix: $(cd "$prefix" && find . -type f)"
done
[ -x "$prefix/bin/bouncer" ] || fail "bin/bouncer is not executable"
has_line "$prefix/lib/systemd/system/bouncer.service" \
  "ExecStart=$prefix/bin/bouncer serve --config $prefix/etc/bouncer/bouncer.toml" ||
  fail "the installed unit does not run the installed binary with the installed config: $(grep ExecStart "$prefix/lib/systemd/system/bouncer.service")"
ok "cmake --install --prefix: binary, docs, config and a unit with the prefix's paths"

echo '# edited by the operator' >>"$prefix/etc/bouncer/bouncer.toml"
timeout 120 cmake --install "$build" --prefix "$prefix" --component bouncer >"$work/install2.log" 2>&1 ||
  fail "second cmake --install failed: $(cat "$work/install2.log")"
grep -q 'edited by the operator' "$prefix/etc/bouncer/bouncer.toml" || fail "a second install overwrote an edited config"
ok "a second install keeps an edited config"

# ---- 2. the package ----
timeout 240 cpack --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
  fail "cpack failed: $(cat "$work/cpack.log")"
shopt -s nullglob
debs=("$work"/out/bouncer_*.deb)
shopt -u nullglob
[ "${#debs[@]}" -eq 1 ] || fail "expected one bouncer_*.deb, got: $(ls "$work/out")"
deb=${debs[0]}
ok "cpack made $(basename "$deb")"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = bouncer ] || fail "Package: $(field Package)"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture: $(field Architecture)"
version=$(field Version)
[ -n "$version" ] || fail "no Version"
depends=$(field Depends)
# dpkg-shlibdeps names the libraries the binary links, each with its package and version.
for lib in libc6 libstdc++6 libsodium23 libsqlite3-0 libhiredis0.14 libssl3 adduser; do
  [[ ", $depends," == *", $lib"[\ ,]* ]] || fail "Depends lacks $lib: $depends"
done
ok "control: bouncer $version for $(field Architecture); Depends: $depends"

dpkg-deb -e "$deb" "$work/control"
has_line "$work/control/conffiles" /etc/bouncer/bouncer.toml || fail "conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "no executable $script in the package"
  sh -n "$work/control/$script" || fail "$script is not valid sh"
done
# The adduser command spans two lines (a backslash continues it): join them before looking.
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$work/control/postinst" | grep -q 'adduser --system .* bouncer$' ||
  fail "postinst creates no bouncer system user"
grep -q 'dpkg-statoverride --update --add root bouncer 0750 /etc/bouncer$' "$work/control/postinst" ||
  fail "postinst does not make /etc/bouncer the service's"
ok "control: the config is a conffile; postinst, prerm and postrm are valid sh; postinst makes the user"

dpkg-deb -c "$deb" | awk '{print $1, $2, $NF}' >"$work/contents"
for entry in "-rwxr-xr-x root/root ./usr/bin/bouncer" \
  "-rw-r--r-- root/root ./usr/lib/systemd/system/bouncer.service" \
  "-rw-r--r-- root/root ./etc/bouncer/bouncer.toml" \
  "-rw-r--r-- root/root ./usr/share/doc/bouncer/OPERATIONS.md" \
  "-rw-r--r-- root/root ./usr/share/doc/bouncer/README.md"; do
  has_line "$work/contents" "$entry" || fail "the package lacks '$entry':
$(cat "$work/contents")"
done
# Nothing but the service's own files: no test, benchmark or example program.
extra=$(awk '$1 !~ /^d/ {print $3}' "$work/contents" | grep -vxE '\./usr/bin/bouncer|\./usr/lib/systemd/system/bouncer\.service|\./etc/bouncer/bouncer\.toml|\./usr/share/doc/bouncer/[A-Z]+\.md' || true)
[ -z "$extra" ] || fail "unexpected files in the package: $extra"
ok "contents: the binary, the unit, the config and the docs, and nothing else"

# ---- 3. the unit ----
dpkg-deb -x "$deb" "$work/root"
unit="$work/root/usr/lib/systemd/system/bouncer.service"
for line in 'User=bouncer' 'Group=bouncer' 'ExecStart=/usr/bin/bouncer serve --config /etc/bouncer/bouncer.toml' \
  'ExecReload=/bin/kill -HUP $MAINPID' 'StateDirectory=bouncer' 'StateDirectoryMode=0700' 'UMask=0077' \
  'LimitNOFILE=65536' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
  'PrivateDevices=yes' 'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' \
  'ProtectControlGroups=yes' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'RestrictNamespaces=yes' \
  'LockPersonality=yes' 'MemoryDenyWriteExecute=yes' 'RestrictRealtime=yes' 'SystemCallArchitectures=native' \
  'CapabilityBoundingSet=' 'WantedBy=multi-user.target'; do
  has_line "$unit" "$line" || fail "bouncer.service lacks '$line'"
done
grep -q '^data_dir = "/var/lib/bouncer"$' "$work/root/etc/bouncer/bouncer.toml" ||
  fail "the packaged config does not keep its data in the StateDirectory /var/lib/bouncer"
ok "bouncer.service: its own user, the state directory, reload by SIGHUP, LimitNOFILE and the hardening"

# systemd-analyze checks every setting and that the commands exist, on this machine: the unit
# is verified as packaged, but for ExecStart's binary, which it finds in the extracted package.
# An unknown or misspelt setting is only a warning (exit 0): any output is a failure here.
mkdir "$work/verify"
sed "s#^ExecStart=/usr/bin/bouncer #ExecStart=$work/root/usr/bin/bouncer #" "$unit" >"$work/verify/bouncer.service"
if ! timeout 60 systemd-analyze verify "$work/verify/bouncer.service" >"$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
  fail "systemd-analyze verify: $(cat "$work/verify.log")"
fi
ok "systemd-analyze verify: no complaint"

# ---- 4. the packaged binary ----
bin="$work/root/usr/bin/bouncer"
[ "$("$bin" --version)" = "bouncer $version" ] || fail "--version says '$("$bin" --version)', the package is $version"
ok "the packaged binary says: bouncer $version"

mkdir "$work/serve"
"$bin" serve --config "$work/root/etc/bouncer/bouncer.toml" --data-dir "$work/serve/data" --listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 \
  >"$work/serve/out" 2>"$work/serve/err" &
server_pid=$!
port=
for _ in $(seq 1 300); do  # 30 s at most
  port=$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$work/serve/err")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "the packaged bouncer exited before listening: $(cat "$work/serve/err")"
  sleep 0.1
done
[ -n "$port" ] || fail "the packaged bouncer did not listen within 30 s: $(cat "$work/serve/err")"
health=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
[ "$health" = 200 ] || fail "GET /healthz answered $health"
key=
for _ in $(seq 1 50); do
  key=$(grep -o 'sk_[A-Za-z0-9_-]\{43\}' "$work/serve/out" | head -n 1 || true)
  [ -n "$key" ] && break
  sleep 0.1
done
[ -n "$key" ] || fail "no first key printed: $(cat "$work/serve/out")"
minted=$(curl -s --max-time 10 -o "$work/serve/mint" -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/client/tokens" \
  -H "X-API-KEY: $key" -H 'Content-Type: application/json' -d '{"expiresIn":60}')
[ "$minted" = 200 ] && grep -q '"apiKey":"ek_' "$work/serve/mint" || fail "mint answered $minted: $(cat "$work/serve/mint")"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[ "$status" -eq 0 ] || fail "the packaged bouncer exited $status after SIGTERM: $(cat "$work/serve/err")"
ok "the packaged bouncer serves with the packaged config: /healthz 200, a token minted, SIGTERM exits 0"

echo "$checks passed, 0 failed"
