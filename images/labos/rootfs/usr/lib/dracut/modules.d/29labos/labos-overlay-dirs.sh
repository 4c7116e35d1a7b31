#!/bin/sh
# A live root (root=live:...) is an overlay on the squashfs: its writable
# layer lives in RAM under /run.
case " $(cat /proc/cmdline) " in
*" root=live:"*) mkdir -m 0755 -p /run/overlayfs /run/ovlwork ;;
esac
