# shellcheck shell=bash
# The command line the throwaway-engine scripts share (postgres.sh, object-store.sh):
#   SCRIPT start DIR PORT | stop DIR
# Sourced after the script defines fail(); sets CMD, DIR (absolute) and, for start, PORT.
engine_usage() {
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
}

parse_engine_args() {
  [ $# -ge 2 ] || engine_usage
  CMD=$1
  DIR=$2
  case "$CMD" in
    start) [ $# -eq 3 ] || engine_usage; PORT=$3
           if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
             fail "PORT must be 1-65535, got '$PORT'"
           fi;;
    stop)  [ $# -eq 2 ] || engine_usage;;
    *) engine_usage;;
  esac
  case "$DIR" in /*) ;; *) DIR="$PWD/$DIR";; esac
}
