{{ kafka_json_source('cart_events') }}
