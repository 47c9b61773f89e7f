{{ kafka_json_source('app_logs') }}
