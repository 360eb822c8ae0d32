# frozen_string_literal: true

ENV["BUNDLE_GEMFILE"] ||= File.expand_path("../Gemfile", __dir__)
require "bundler/setup"

# The demo keeps its sqlite database where run-demo (or the tests) say:
# a fresh file per run, seeded at start.
# timeout: wait up to 5 s for sqlite's write lock (logins in parallel)
# instead of failing with "database is locked".
ENV["DATABASE_URL"] ||= "sqlite3:#{ENV.fetch('DEMO_DATABASE') { File.expand_path('../tmp/demo.sqlite3', __dir__) }}?timeout=5000"
