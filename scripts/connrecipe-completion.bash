# bash completion for connrecipe; installed as
# share/bash-completion/completions/connrecipe. Self-contained (no helpers from
# the bash-completion package). Recipe names come from `connrecipe --list`;
# a recipe's options from the usage line of `connrecipe RECIPE --help`, asked
# only of recipes built on the framework (a plain script is never run).

_connrecipe_program_options='--format= --json --color= -v --verbose -q --quiet --deadline -e -l --list
-i --interactive --version --help'
_connrecipe_shared_options='--format= --json --color= -v --verbose -q --quiet --deadline --help'
_connrecipe_formats='text json nagios junit tap prometheus'
# The wait-for-it mode takes wait-for-it's command line, not connrecipe's options.
_connrecipe_wait_for_it_options='-h --host= -p --port= -t --timeout= -s --strict -q --quiet --help'

# Recipe names on the recipe path and built in, as NAME.lua.
_connrecipe_recipes() {
  "$1" --list 2>/dev/null </dev/null | awk 'NR > 1 && NF { print $1 ".lua" }'
}

# Whether a recipe is built on the recipe framework (cr.recipe{...}), which
# answers --help without running anything; a plain script would just run.
_connrecipe_is_framework_recipe() {
  local name=${2%.lua} file from
  if [[ $2 == */* ]]; then
    file=${2/#\~/$HOME}
  else
    from=$("$1" --list 2>/dev/null </dev/null | awk -v n="$name" 'NR > 1 && $1 == n { print $NF; exit }')
    [[ $from == built-in ]] && return 0
    [[ -n $from ]] || return 1
    file=$from/$name.lua
  fi
  grep -q 'cr\.recipe' "$file" 2>/dev/null
}

# The --options a recipe declares: the "[--name ...]" parts of its usage line.
_connrecipe_recipe_options() {
  _connrecipe_is_framework_recipe "$1" "$2" || return 0
  local bound=()
  command -v timeout >/dev/null && bound=(timeout 3)
  "${bound[@]}" "$1" --deadline 2 "$2" --help 2>/dev/null </dev/null |
    sed -n '1s/^usage: //p' | grep -o '\[--[A-Za-z0-9][A-Za-z0-9_-]*' | sed 's/^\[//'
}

_connrecipe() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local cmd=${COMP_WORDS[0]/#\~/$HOME} recipe="" passthrough="" i w
  COMPREPLY=()

  # Find the recipe (the first word that is not an option or an option's value).
  # '=' is a word break, so "--color=auto" arrives as "--color" "=" "auto".
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ -n $recipe ]]; then
      [[ $w == -- ]] && passthrough=1
      continue
    fi
    case $w in
    -e | --deadline | --color | --format) [[ ${COMP_WORDS[i + 1]} == = ]] || ((i++)) ;;
    =) ((i++)) ;;
    --) ((i + 1 < COMP_CWORD)) && recipe=${COMP_WORDS[++i]} ;;
    -*) ;;
    *) recipe=$w ;;
    esac
  done

  # Option values.
  if [[ $prev == --color || ($prev == = && ${COMP_WORDS[COMP_CWORD - 2]} == --color) ]]; then
    [[ $cur == = ]] && cur=""
    mapfile -t COMPREPLY < <(compgen -W 'auto always never' -- "$cur")
    return
  fi
  if [[ $prev == --format || ($prev == = && ${COMP_WORDS[COMP_CWORD - 2]} == --format) ]]; then
    [[ $cur == = ]] && cur=""
    mapfile -t COMPREPLY < <(compgen -W "$_connrecipe_formats" -- "$cur")
    return
  fi
  case $prev in
  -e | --deadline | =) return ;;
  esac
  [[ $cur == = ]] && return
  [[ -n $passthrough ]] && return # the recipe's command line: default completion

  local words
  if [[ -z $recipe ]]; then
    if [[ $cur == -* ]]; then
      words=$_connrecipe_program_options
    elif [[ $cur == */* ]]; then
      return # a recipe file path: default (file name) completion
    else
      words=$(_connrecipe_recipes "$cmd")
    fi
  elif [[ $cur == -* && ($recipe == wait-for-it || $recipe == wait-for-it.lua) ]]; then
    words=$_connrecipe_wait_for_it_options
  elif [[ $cur == -* ]]; then
    words="$(_connrecipe_recipe_options "$cmd" "$recipe") $_connrecipe_shared_options"
  else
    return # a positional argument: default completion
  fi
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
  if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
    compopt -o nospace 2>/dev/null
  fi
}

complete -o default -F _connrecipe connrecipe
