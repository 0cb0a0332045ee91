# GitHub's side of EventFlow. Values marked "set before the first apply" are the repository's.

github_owner = "example-org" # set before the first apply
repository   = "eventflow"   # set before the first apply

# Who approves production: at least one team or user (numeric ids: `gh api orgs/ORG/teams/SLUG
# --jq .id`, `gh api users/LOGIN --jq .id`). Set before the first apply.
production_reviewer_team_ids = [1000001]
production_reviewer_user_ids = []

# The on-call rota (a team's numeric id): the reviewers of production-rollback. Set before the
# first apply.
on_call_team_id = 1000002
