# Built by npm (a file: dependency of the project, as sender/native is). minilzo.c is compiled
# from the npm lzo package's copy, the code node_lzo.node runs: both give the same bytes, and
# those are the bytes makedumpfile -l writes (lzo1x_1_compress of liblzo2, the same source).
{
  'variables': {
    'minilzo': '<!(node -p "require(\'path\').join(require(\'path\').dirname(require.resolve(\'lzo/package.json\')), \'lib/minilzo209\')")',
  },
  'targets': [
    {
      'target_name': 'stored_pages',
      'sources': ['stored-pages.c', 'minilzo-sources.c'],
      'include_dirs': ['<(minilzo)'],
      'cflags': ['-O3', '-fvisibility=hidden'],
      'defines': ['NAPI_VERSION=8'],
    },
  ],
}
