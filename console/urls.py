from django.urls import path

from console import access_key_views, job_views, rule_views, transfer_views, views

urlpatterns = [
    path("", views.home, name="console-home"),
    path("buckets/create", views.bucket_create, name="console-bucket-create"),
    path("buckets/<str:name>/", views.bucket_overview, name="console-bucket"),
    path(
        "buckets/<str:name>/delete", views.bucket_delete, name="console-bucket-delete"
    ),
    path("buckets/<str:name>/files/", views.bucket_files, name="console-files"),
    path(
        "buckets/<str:name>/files/upload",
        views.files_upload,
        name="console-files-upload",
    ),
    path(
        "buckets/<str:name>/files/folder",
        views.folder_create,
        name="console-folder-create",
    ),
    path("buckets/<str:name>/files/object", views.object_detail, name="console-object"),
    path(
        "buckets/<str:name>/files/download",
        views.object_download,
        name="console-object-download",
    ),
    path(
        "buckets/<str:name>/files/delete",
        views.object_delete,
        name="console-object-delete",
    ),
    path(
        "buckets/<str:name>/settings/", views.bucket_settings, name="console-settings"
    ),
    path("buckets/<str:name>/settings/acl", views.acl_edit, name="console-acl"),
]

urlpatterns += [
    path(
        "buckets/<str:name>/settings/back-to-origin/",
        rule_views.rule_list,
        name="console-rules",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/create",
        rule_views.rule_create,
        name="console-rule-create",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/mode-fields",
        rule_views.rule_mode_fields,
        name="console-rule-mode-fields",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/header-row",
        rule_views.rule_header_row,
        name="console-rule-header-row",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/<int:rule_id>/edit",
        rule_views.rule_edit,
        name="console-rule-edit",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/<int:rule_id>/clear",
        rule_views.rule_clear,
        name="console-rule-clear",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/<int:rule_id>/move",
        rule_views.rule_move,
        name="console-rule-move",
    ),
]

urlpatterns += [
    path("access-keys/", access_key_views.access_key_list, name="console-access-keys"),
    path(
        "access-keys/create",
        access_key_views.access_key_create,
        name="console-access-key-create",
    ),
    path(
        "access-keys/<str:key_id>/toggle",
        access_key_views.access_key_toggle,
        name="console-access-key-toggle",
    ),
    path(
        "access-keys/<str:key_id>/delete",
        access_key_views.access_key_delete,
        name="console-access-key-delete",
    ),
]

urlpatterns += [
    path(
        "buckets/<str:name>/settings/back-to-origin/test",
        rule_views.rule_dry_run,
        name="console-rule-dry-run",
    ),
]

urlpatterns += [
    path(
        "buckets/<str:name>/settings/back-to-origin/export",
        transfer_views.rules_export,
        name="console-rules-export",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/import",
        transfer_views.rules_import,
        name="console-rules-import",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/import/confirm",
        transfer_views.rules_import_confirm,
        name="console-rules-import-confirm",
    ),
]

urlpatterns += [
    path(
        "buckets/<str:name>/settings/back-to-origin/warm-up/",
        job_views.warmup_section,
        name="console-warmup",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/warm-up/start",
        job_views.warmup_start,
        name="console-warmup-start",
    ),
    path(
        "buckets/<str:name>/settings/back-to-origin/refresh",
        job_views.refresh_start,
        name="console-refresh-start",
    ),
    path(
        "buckets/<str:name>/jobs/<int:job_id>/",
        job_views.job_detail,
        name="console-job",
    ),
    path(
        "buckets/<str:name>/jobs/<int:job_id>/<str:action>",
        job_views.job_control,
        name="console-job-control",
    ),
    path(
        "buckets/<str:name>/files/refetch",
        job_views.object_refetch,
        name="console-object-refetch",
    ),
]
