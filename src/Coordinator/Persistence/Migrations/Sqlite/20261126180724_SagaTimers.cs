using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Sagas.Coordinator.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class SagaTimers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_sagas_NextWakeAt",
                table: "sagas");

            migrationBuilder.CreateTable(
                name: "saga_timers",
                columns: table => new
                {
                    SagaId = table.Column<Guid>(type: "TEXT", nullable: false),
                    WakeAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_saga_timers", x => x.SagaId);
                });

            migrationBuilder.CreateIndex(
                name: "IX_saga_timers_WakeAt",
                table: "saga_timers",
                column: "WakeAt");

            // Sagas already waiting keep their wake-up.
            migrationBuilder.Sql("INSERT INTO saga_timers (\"SagaId\", \"WakeAt\") SELECT \"Id\", \"NextWakeAt\" FROM sagas WHERE \"NextWakeAt\" IS NOT NULL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "saga_timers");

            migrationBuilder.CreateIndex(
                name: "IX_sagas_NextWakeAt",
                table: "sagas",
                column: "NextWakeAt");
        }
    }
}
