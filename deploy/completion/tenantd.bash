# bash completion for tenantd(1): commands, each command's options, the
# values of --format and --log-format, directories and files where an
# option or operand names one.
#
# Installed by `make install` as
# $PREFIX/share/bash-completion/completions/tenantd; without
# bash-completion, `source` this file from ~/.bashrc.  The option lists
# follow `tenantd <command> --help`; tests/newcomer/package.sh checks
# that they agree.
# shellcheck shell=bash

_tenantd_commands="validate plan apply run status log graph version help"

# The options of command $1, as its --help lists them.
_tenantd_options() {
  local git="--repo --branch --status-branch --cache-dir --config"
  case $1 in
  validate) echo "--format --help" ;;
  plan)
    echo "--state-dir --status-dir --format --detailed-exitcode" \
      "--allow-delete --concurrency --set $git --all --changed --max-bytes" \
      "--ref --base --help"
    ;;
  apply)
    echo "--once --state-dir --status-dir --allow-delete --concurrency" \
      "--health-timeout --set $git --all --changed --help"
    ;;
  run) echo "--config --log-format --check --strict --help" ;;
  status) echo "$git --format --state --prefix --help" ;;
  log) echo "$git --limit --format --help" ;;
  graph) echo "--help" ;;
  version) echo "--format --help" ;;
  esac
}

# Whether option $1 takes a value (the next word).
_tenantd_takes_value() {
  case $1 in
  --format | --state-dir | --status-dir | --allow-delete | --concurrency | \
    --set | --repo | --branch | --status-branch | --cache-dir | --config | \
    --ref | --base | --health-timeout | --log-format | --limit | \
    --max-bytes | --state | --prefix)
    return 0
    ;;
  esac
  return 1
}

_tenantd() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmd='' i word
  COMPREPLY=()
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  # --opt=value: bash splits it at '=' (COMP_WORDBREAKS).
  if [[ $cur == = ]]; then
    cur=
  elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi

  # The command is the first word that is not an option.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word != -* ]]; then
      cmd=$word
      break
    fi
  done
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$_tenantd_commands" -- "$cur")
    fi
    return 0
  fi

  # The value of an option.
  if [[ $prev == --* ]] && _tenantd_takes_value "$prev"; then
    case $prev in
    --format)
      if [[ $cmd == plan ]]; then
        mapfile -t COMPREPLY < <(compgen -W "text markdown json" -- "$cur")
      else
        mapfile -t COMPREPLY < <(compgen -W "text json" -- "$cur")
      fi
      ;;
    --log-format)
      mapfile -t COMPREPLY < <(compgen -W "logfmt json" -- "$cur")
      ;;
    --state-dir | --status-dir | --cache-dir | --repo)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      ;;
    --config)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      ;;
    --set)
      compopt -o nospace 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -W "local.latencyMs= local.faultRate=
        local.faultClass= local.faultMatch= local.faultOn= local.seed=
        local.healthDelayMs=" -- "$cur")
      ;;
    esac
    return 0
  fi

  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_tenantd_options "$cmd")" -- "$cur")
    return 0
  fi
  # Operands: a manifest directory, or a command to explain.
  case $cmd in
  validate | plan | apply | graph)
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    ;;
  help)
    mapfile -t COMPREPLY < <(compgen -W "$_tenantd_commands" -- "$cur")
    ;;
  esac
  return 0
}

complete -F _tenantd tenantd
