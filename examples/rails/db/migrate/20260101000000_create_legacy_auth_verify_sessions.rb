# frozen_string_literal: true

# Server-side session tracking (LegacyAuthVerify::Sessions). Copy into the
# host app with: bin/rails legacy_auth_verify:install:migrations
class CreateLegacyAuthVerifySessions < ActiveRecord::Migration[6.1]
  def change
    create_table :legacy_auth_verify_sessions do |t|
      t.string :sid_digest, null: false, limit: 64
      t.string :user_id, null: false
      t.timestamps
    end
    add_index :legacy_auth_verify_sessions, :sid_digest, unique: true
    add_index :legacy_auth_verify_sessions, :user_id
  end
end
