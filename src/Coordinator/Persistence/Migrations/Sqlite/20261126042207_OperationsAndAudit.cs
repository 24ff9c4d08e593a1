using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Sagas.Coordinator.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class OperationsAndAudit : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_sagas_BusinessKey",
                table: "sagas");

            migrationBuilder.DropIndex(
                name: "IX_sagas_Definition_CreatedAt",
                table: "sagas");

            migrationBuilder.DropIndex(
                name: "IX_sagas_State_UpdatedAt",
                table: "sagas");

            migrationBuilder.AddColumn<string>(
                name: "CompensationTrigger",
                table: "sagas",
                type: "TEXT",
                maxLength: 20,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Deferred",
                table: "sagas",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "PausedFrom",
                table: "sagas",
                type: "TEXT",
                maxLength: 20,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Signals",
                table: "sagas",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "api_keys",
                columns: table => new
                {
                    Name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    Hash = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Role = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    Tenant = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_api_keys", x => x.Name);
                });

            migrationBuilder.CreateTable(
                name: "compensations",
                columns: table => new
                {
                    SagaId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Step = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    Definition = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    Trigger = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    Attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    Outcome = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    LastError = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    Tenant = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    StartedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    UpdatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    CompletedAt = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_compensations", x => new { x.SagaId, x.Step });
                });

            migrationBuilder.CreateIndex(
                name: "IX_sagas_BusinessKey_CreatedAt_Id",
                table: "sagas",
                columns: new[] { "BusinessKey", "CreatedAt", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_sagas_CreatedAt_Id",
                table: "sagas",
                columns: new[] { "CreatedAt", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_sagas_Definition_CreatedAt_Id",
                table: "sagas",
                columns: new[] { "Definition", "CreatedAt", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_sagas_State_CreatedAt_Id",
                table: "sagas",
                columns: new[] { "State", "CreatedAt", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_sagas_Tenant_CreatedAt_Id",
                table: "sagas",
                columns: new[] { "Tenant", "CreatedAt", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_compensations_Definition_Step_UpdatedAt",
                table: "compensations",
                columns: new[] { "Definition", "Step", "UpdatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_compensations_Outcome_UpdatedAt",
                table: "compensations",
                columns: new[] { "Outcome", "UpdatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_compensations_UpdatedAt",
                table: "compensations",
                column: "UpdatedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "api_keys");

            migrationBuilder.DropTable(
                name: "compensations");

            migrationBuilder.DropIndex(
                name: "IX_sagas_BusinessKey_CreatedAt_Id",
                table: "sagas");

            migrationBuilder.DropIndex(
                name: "IX_sagas_CreatedAt_Id",
                table: "sagas");

            migrationBuilder.DropIndex(
                name: "IX_sagas_Definition_CreatedAt_Id",
                table: "sagas");

            migrationBuilder.DropIndex(
                name: "IX_sagas_State_CreatedAt_Id",
                table: "sagas");

            migrationBuilder.DropIndex(
                name: "IX_sagas_Tenant_CreatedAt_Id",
                table: "sagas");

            migrationBuilder.DropColumn(
                name: "CompensationTrigger",
                table: "sagas");

            migrationBuilder.DropColumn(
                name: "Deferred",
                table: "sagas");

            migrationBuilder.DropColumn(
                name: "PausedFrom",
                table: "sagas");

            migrationBuilder.DropColumn(
                name: "Signals",
                table: "sagas");

            migrationBuilder.CreateIndex(
                name: "IX_sagas_BusinessKey",
                table: "sagas",
                column: "BusinessKey");

            migrationBuilder.CreateIndex(
                name: "IX_sagas_Definition_CreatedAt",
                table: "sagas",
                columns: new[] { "Definition", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_sagas_State_UpdatedAt",
                table: "sagas",
                columns: new[] { "State", "UpdatedAt" });
        }
    }
}
