#!/bin/bash
# ACAS Xu 116 s, mipnet before (HEAD f43e8f9 in /work/before: backward passes from the neurons undecided in some box
# of the batch) and after (from every neuron not off on its own box, gathered box by box), all 42 instances
# interleaved by instance
exec "$(dirname "$0")/../acas_ab.sh" /work/before "$(dirname "$0")"
