/*
 * minilzo compiled into this addon from the npm lzo package's copy (binding.gyp
 * finds it). Included, not listed as a gyp source: gyp names objects after
 * source paths, which outside this folder it cannot do.
 */
#include "minilzo.c"
