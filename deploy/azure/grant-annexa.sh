#!/usr/bin/env bash
# Create (or reuse) the Annexa application and service principal, assign Reader and Security Reader
# on a management group or subscription, and grant the Microsoft Graph application permissions listed
# in permissions.json (admin consent included). Needs: az (logged in as a Global Administrator or
# Privileged Role Administrator plus Owner/User Access Administrator on the scope) and jq.
#
#   deploy/azure/grant-annexa.sh --scope /providers/Microsoft.Management/managementGroups/<tenant id>
#   deploy/azure/grant-annexa.sh --scope /subscriptions/<id> --principal-id <existing object id>
#
# With --principal-id (a managed identity or workload identity's service principal) no application is
# created. The script prints the ids to put in annexa.yaml; it never prints or stores a secret.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
scope=""
principal=""
name="annexa-reader"
while [ $# -gt 0 ]; do
  case "$1" in
    --scope) scope="$2"; shift 2 ;;
    --principal-id) principal="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -n "$scope" ] || { echo "--scope is required" >&2; exit 2; }

if [ -z "$principal" ]; then
  app_id="$(az ad app list --display-name "$name" --query '[0].appId' -o tsv)"
  [ -n "$app_id" ] || app_id="$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg --query appId -o tsv)"
  principal="$(az ad sp list --filter "appId eq '$app_id'" --query '[0].id' -o tsv)"
  [ -n "$principal" ] || principal="$(az ad sp create --id "$app_id" --query id -o tsv)"
  echo "application (client) id: $app_id"
fi
echo "service principal object id: $principal"

for role in $(jq -r '.azure_roles[].id' "$here/permissions.json"); do
  az role assignment create --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal \
    --role "$role" --scope "$scope" --only-show-errors >/dev/null
  echo "assigned role $role on $scope"
done

graph_sp="$(az ad sp show --id 00000003-0000-0000-c000-000000000000 --query id -o tsv)"
existing="$(az rest --method GET --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
  --query 'value[].appRoleId' -o tsv)"
jq -r '.graph_application_permissions[] | "\(.id) \(.name)"' "$here/permissions.json" | while read -r id perm; do
  if grep -q "$id" <<<"$existing"; then
    echo "Graph $perm already granted"
    continue
  fi
  az rest --method POST --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$id\"}" >/dev/null
  echo "granted Graph $perm"
done
echo "tenant id: $(az account show --query tenantId -o tsv)"
