# frozen_string_literal: true

class CreateDemoTables < ActiveRecord::Migration[6.1]
  def change
    create_table :users do |t|
      t.string :username, null: false, index: { unique: true }
      t.string :email
      t.string :roles, null: false, default: ""
      t.boolean :disabled, null: false, default: false
      t.string :password_salt, null: false
      t.string :password_digest, null: false
      t.timestamps
    end
    create_table :api_tokens do |t|
      t.references :user, null: false
      t.string :token_digest, null: false, limit: 64, index: { unique: true }
      t.timestamps
    end
  end
end
