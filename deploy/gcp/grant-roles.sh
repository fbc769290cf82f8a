#!/bin/sh
# Grant Annexa's service account read-only access to a whole organisation (gcloud).
#   ORG_ID=123456789012 SA=annexa-reader@acme-security.iam.gserviceaccount.com sh deploy/gcp/grant-roles.sh
# With CUSTOM_ROLE=1 the exact-permission role of annexa-reader-role.yaml is created and granted instead.
set -eu
: "${ORG_ID:?set ORG_ID to the organisation id}"
: "${SA:?set SA to the service account e-mail Annexa runs as}"

if [ "${CUSTOM_ROLE:-0}" = "1" ]; then
  gcloud iam roles create annexaReader --organization="$ORG_ID" \
    --file="$(dirname "$0")/annexa-reader-role.yaml" --quiet
  gcloud organizations add-iam-policy-binding "$ORG_ID" --member="serviceAccount:$SA" \
    --role="organizations/$ORG_ID/roles/annexaReader" --condition=None --quiet
  exit 0
fi

for role in \
  roles/browser \
  roles/iam.securityReviewer \
  roles/iam.serviceAccountViewer \
  roles/storage.bucketViewer \
  roles/compute.viewer \
  roles/cloudsql.viewer \
  roles/cloudkms.viewer \
  roles/logging.viewer \
  roles/orgpolicy.policyViewer
do
  gcloud organizations add-iam-policy-binding "$ORG_ID" --member="serviceAccount:$SA" \
    --role="$role" --condition=None --quiet
done
