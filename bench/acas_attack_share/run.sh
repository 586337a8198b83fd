#!/bin/bash
# ACAS Xu 116 s, the instances that run past the first wide attack (10 s of search), mipnet before (cf9f345 in
# /work/before: the next attack `ratio` times the last one's cost after it) and after (once the search without
# attacks has run `ratio` times as long as all attacks, the next included), interleaved by instance
exec "$(dirname "$0")/../acas_ab.sh" /work/before "$(dirname "$0")" 4_2:2 1_9:7 1_1:6 5_3:2 3_3:9 3_3:2
