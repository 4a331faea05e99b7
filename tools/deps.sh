#!/usr/bin/env bash
# tools/deps.sh — install what awqkit needs to build and test, from Debian
# packages. Sourced by quickstart.sh and test.sh. As root it runs apt-get;
# otherwise it prints the exact command to run and stops.
AWQ_DEB_PACKAGES=(build-essential cmake pkg-config libopenblas-dev libcjson-dev
                  libzstd-dev libpcre2-dev libutf8proc-dev zstd libxxhash-dev)
# Optional (CMake finds it or builds without): oneDNN for the bf16 search
# GEMMs (--precision bf16; README "Dependencies"). Installed when running as
# root; never reported missing.
AWQ_DEB_OPTIONAL=(libdnnl-dev)
# The Python package's tests (tools/test.sh): a venv, then pip install .
AWQ_DEB_PACKAGES+=(python3-venv)

awq_install_deps() {
    local missing=() p
    for p in "${AWQ_DEB_PACKAGES[@]}" "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "$(id -u)" -eq 0 ]; then
        for p in "${AWQ_DEB_OPTIONAL[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
        done
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "awqkit: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || { echo "awqkit: apt-get update failed" >&2; return 1; }
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            { echo "awqkit: apt-get install ${missing[*]} failed" >&2; return 1; }
    else
        echo "awqkit: missing packages: ${missing[*]}" >&2
        echo "awqkit: run:  sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
}
