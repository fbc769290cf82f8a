# Annexa's read-only identity on Google Cloud: a service account in a security-tooling project,
# granted read roles on the whole organisation, optionally reachable through workload identity
# federation (no key files). `terraform apply -var org_id=... -var project_id=...`.

terraform {
  required_providers {
    google = { source = "hashicorp/google", version = ">= 5.0" }
  }
}

variable "org_id" {
  type        = string
  description = "Organisation id (digits)."
}

variable "project_id" {
  type        = string
  description = "Project that holds Annexa's service account."
}

variable "use_custom_role" {
  type        = bool
  default     = false
  description = "Grant one custom role with the exact permissions (annexa-reader-role.yaml) instead of the predefined roles."
}

variable "workload_identity_principal" {
  type        = string
  default     = ""
  description = "A workload identity federation principal (principalSet://...) allowed to act as the service account; empty for none."
}

locals {
  # Predefined roles covering every request in permissions.json.
  reader_roles = [
    "roles/browser",
    "roles/iam.securityReviewer",
    "roles/iam.serviceAccountViewer",
    "roles/storage.bucketViewer",
    "roles/compute.viewer",
    "roles/cloudsql.viewer",
    "roles/cloudkms.viewer",
    "roles/logging.viewer",
    "roles/orgpolicy.policyViewer",
  ]
  custom_role = yamldecode(file("${path.module}/annexa-reader-role.yaml"))
}

resource "google_service_account" "annexa" {
  project      = var.project_id
  account_id   = "annexa-reader"
  display_name = "Annexa (read-only compliance evidence)"
}

resource "google_organization_iam_member" "reader" {
  for_each = var.use_custom_role ? toset([]) : toset(local.reader_roles)
  org_id   = var.org_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.annexa.email}"
}

resource "google_organization_iam_custom_role" "annexa_reader" {
  count       = var.use_custom_role ? 1 : 0
  org_id      = var.org_id
  role_id     = "annexaReader"
  title       = local.custom_role.title
  description = local.custom_role.description
  permissions = local.custom_role.includedPermissions
}

resource "google_organization_iam_member" "custom" {
  count  = var.use_custom_role ? 1 : 0
  org_id = var.org_id
  role   = google_organization_iam_custom_role.annexa_reader[0].name
  member = "serviceAccount:${google_service_account.annexa.email}"
}

resource "google_service_account_iam_member" "workload_identity" {
  count              = var.workload_identity_principal == "" ? 0 : 1
  service_account_id = google_service_account.annexa.name
  role               = "roles/iam.workloadIdentityUser"
  member             = var.workload_identity_principal
}

output "service_account_email" {
  value = google_service_account.annexa.email
}
