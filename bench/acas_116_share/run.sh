#!/bin/bash
# ACAS Xu 116 s, mipnet before (HEAD 6dbb740, mip_share 0.5 on input splitting, in /work/before) and after, all 42
# instances interleaved by instance (the results were copied from /tmp/acas_ab into this folder)
exec "$(dirname "$0")/../acas_ab.sh" /work/before "$(dirname "$0")"
