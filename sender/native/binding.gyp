# Built by npm (a file: dependency of the project, so `npm ci` builds it as it builds lz4's).
# lz4.c and xxhash.c are compiled from the npm lz4 package's copy (the lz4 and xxhash.node the
# project already loads come from the same sources), so both ends hash and decode the same way.
{
  'variables': {
    'lz4_lib': '<!(node -p "require(\'path\').join(require(\'path\').dirname(require.resolve(\'lz4/package.json\')), \'deps/lz4/lib\')")',
    'minilzo': '<!(node -p "require(\'path\').join(require(\'path\').dirname(require.resolve(\'lzo/package.json\')), \'lib/minilzo209\')")',
  },
  'targets': [
    {
      'target_name': 'chunk_encoder',
      'sources': ['chunk-encoder.c', 'lz4-sources.c'],
      'include_dirs': ['<(lz4_lib)', '<(minilzo)'],
      'cflags': ['-O3', '-fvisibility=hidden'],
      'defines': ['NAPI_VERSION=8'],
    },
  ],
}
