# The download helpers moved to scripts/debian.sh (one hardened private apt configuration for
# every download); this file stays for scripts that source it by its old path.
# shellcheck source=../../scripts/debian.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts" && pwd)/debian.sh"
