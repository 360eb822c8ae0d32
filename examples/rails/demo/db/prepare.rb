# frozen_string_literal: true

# DemoDatabase.prepare! brings a (fresh) demo database up to date: the
# app's migrations and the engine's (what `bin/rails
# legacy_auth_verify:install:migrations db:migrate` does in a real app),
# then the seeds.
module DemoDatabase
  def self.prepare!
    ActiveRecord::Migration.verbose = false
    paths = Rails.application.paths["db/migrate"].to_a + LegacyAuthVerify::Engine.paths["db/migrate"].to_a
    ActiveRecord::MigrationContext.new(paths, ActiveRecord::SchemaMigration).migrate
    Rails.application.load_seed
  end
end
