def file_stream(*, user, entity_name, project_name, run_name, body):
    return {}
