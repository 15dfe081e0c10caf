/*
 * lz4 and XXH32 compiled into this addon from the npm lz4 package's copy of
 * the lz4 sources (binding.gyp finds it): the same code as the lz4.node and
 * xxhash.node the project loads, so both ends compress and hash alike.
 * Included, not listed as gyp sources: gyp names objects after source
 * paths, which outside this folder it cannot do.
 */
#include "lz4.c"
#include "xxhash.c"
/* minilzo from the npm lzo package's copy: the code the receiver's page run encoder and node_lzo.node run. */
#include "minilzo.c"
